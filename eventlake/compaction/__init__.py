"""Compaction of the landing zone into versioned, metastore-published curated partitions.

``plan`` decides what to rewrite (pure), ``transform`` is the Spark transform (pure), ``storage``
lists and moves files of the lake, ``runner`` strings them together for ``spark_jobs/compact_events``,
``retention`` deletes superseded versions and compacted landing files.
"""
