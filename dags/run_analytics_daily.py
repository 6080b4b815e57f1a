"""Daily analytics reports: every daily question for each UTC day of event time, checked, then published.

Runs after midnight UTC for the day that ended, and again whenever compaction publishes a curated
partition (the asset event names the hour, hence the day). A backfill over past days gives one
report per day and question. The Airflow DAG itself is declared by :func:`analytics_dag`.
"""

from __future__ import annotations

from eventlake.analytics.dag_factory import analytics_dag

run_analytics_daily = analytics_dag("daily", doc_md=__doc__)
