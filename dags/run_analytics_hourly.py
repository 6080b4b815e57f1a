"""Hourly analytics reports: every hourly question for each hour of event time, checked, then published.

Runs on the hour for the hour that ended, and again whenever compaction publishes a curated
partition (the asset event names the hour). A backfill over past hours gives one report per hour
and question. The Airflow DAG itself is declared by :func:`analytics_dag`.
"""

from __future__ import annotations

from eventlake.analytics.dag_factory import analytics_dag

run_analytics_hourly = analytics_dag("hourly", doc_md=__doc__)
