"""Airflow plugin: the analytics reports in the Airflow UI (navigation entry and a tab on DAG runs).

The app itself lives in :mod:`eventlake.reports.web`; it enforces Airflow's login and roles on
every route, because Airflow does not authenticate plugin apps.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from eventlake.reports.web import URL_PREFIX, create_app


class EventlakeReportsPlugin(AirflowPlugin):
    """Browse the index, open a report (chart and table), download its CSV or Parquet."""

    name = "eventlake_reports"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "eventlake reports"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Reports",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "eventlake-reports",
        },
        {
            "name": "Report",
            "href": f"{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "eventlake-run-report",
        },
    ]
