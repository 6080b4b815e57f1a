"""The Kafka-to-Parquet stream: its Spark job, source, routing, landing commits and supervisor.

Defaults that the settings and the Spark workers' code both need live here: a worker imports this
package without the settings (importing pydantic-settings costs each Python worker ~0.27 s).
"""

#: Consumers a task reads its partitions with, side by side (option ``readConsumers``). Tansu on s3 storage
#: serves a fetch one record batch at a time, each a request to its object store, so reading is a chain of
#: round trips that leaves both processes waiting; three connections keep three chains going. Under a steady
#: 1,000 events/s of one-record batches one consumer read 0.53-0.73 ms per record, two 0.33-0.46, three
#: 0.24-0.39 (2026-12-07, AMD EPYC 2 cores, alternating in one run).
READ_CONSUMERS = 3
