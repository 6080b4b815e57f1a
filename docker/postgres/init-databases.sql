-- One PostgreSQL server, two databases: Airflow's metadata and the Hive Metastore's.
-- POSTGRES_DB (airflow) is created by the image; the metastore's is created here on first start.
CREATE DATABASE metastore;
