"""The two analytics DAG files are one factory: same shape, their own cadence, file name == dag_id."""

from __future__ import annotations

import ast

import pytest

from eventlake.analytics.dag_factory import CRON, analytics_dag
from eventlake.analytics.tasks import ANALYTICS_DAG_IDS
from eventlake.settings import REPO_ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert not bag.import_errors
    return bag


@pytest.mark.parametrize("cadence", ["hourly", "daily"])
def test_each_cadence_has_a_thin_dag_file_named_after_its_dag(dagbag, cadence: str) -> None:
    dag_id = f"run_analytics_{cadence}"
    assert dag_id in ANALYTICS_DAG_IDS
    dag = dagbag.dags[dag_id]
    assert dag.fileloc.endswith(f"dags/{dag_id}.py")
    assert dag.timetable.timetable.expression == CRON[cadence]
    assert sorted(dag.task_ids) == ["publish_reports", "resolve_intervals"]
    assert dag.get_task("publish_reports").upstream_task_ids == {"resolve_intervals"}
    source = (REPO_ROOT / "dags" / f"{dag_id}.py").read_text()
    assert f'analytics_dag("{cadence}"' in source
    statements = ast.parse(source).body
    assert len(statements) == 4, "docstring, two imports, one factory call"


def test_an_unknown_cadence_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown cadence 'weekly'"):
        analytics_dag("weekly")
