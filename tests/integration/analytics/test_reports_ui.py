"""The reports in the Airflow UI, driven in headless Chromium: login, trigger, task log, report pages.

Screenshots of every step land in ``var/test-artifacts/analytics/``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DAG_ID = "run_analytics_daily"
PURCHASES_TITLE = "Purchases by item and kind, with revenue"
ARTIFACTS = Path(__file__).resolve().parents[3] / "var" / "test-artifacts" / "analytics"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


#: The machine is shared and loaded: the UI's first page (several MB of JavaScript) may take long.
PAGE_TIMEOUT_MS = 120_000


def login(browser, settings, username: str, password: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{settings.airflow_url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    return page


def api_token(settings, username: str, password: str) -> str:
    response = httpx.post(
        f"{settings.airflow_url}/auth/token", json={"username": username, "password": password}, timeout=60
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def wait_for_run(settings, token: str, run_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{settings.airflow_url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        state = response.json().get("state", "unknown")
        if state in ("success", "failed"):
            return str(state)
        time.sleep(3)
    raise AssertionError(f"run {run_id} still {state} after {timeout} s")


def expected_top_revenue(rows: list[dict]) -> Decimal:
    revenue: dict[tuple, Decimal] = defaultdict(Decimal)
    for row in rows:
        revenue[(row["item"], row["item_kind"])] += row["price"]
    return max(revenue.values())


def open_purchases_report_in(frame) -> None:
    frame.locator(f"h2#game_purchases_by_item + table a, a:has-text('{PURCHASES_TITLE}')").first.click()


def assert_report_shown(frame, revenue: Decimal) -> None:
    frame.locator("figure.chart svg").first.wait_for()
    assert frame.locator("h1").first.inner_text() == PURCHASES_TITLE
    assert frame.locator(f"table.result td:text-is('{revenue}')").count() == 1, f"revenue {revenue} not in the table"


def test_plugin_routes_need_an_airflow_login(analytics_stack, browser) -> None:
    context = browser.new_context()
    base = f"{analytics_stack.airflow_url}/eventlake-reports"
    for path in ("/", "/reports/", "/runs/run_analytics_daily/x", "/reports/game_purchases_by_item/"):
        assert context.request.get(base + path).status == 401, path
    page = context.new_page()
    page.goto(base + "/")
    shot(page, "00-anonymous-plugin-401")
    assert "Not authenticated" in page.content()
    context.add_cookies([{"name": "_token", "value": "forged", "url": analytics_stack.airflow_url}])
    assert context.request.get(base + "/").status == 403
    context.close()


def test_admin_triggers_the_report_and_both_roles_read_it(analytics_stack, seed_yesterday, browser) -> None:
    settings = analytics_stack
    admin_password = settings.admin_password.get_secret_value()
    interval, rows = seed_yesterday
    revenue = expected_top_revenue(rows["game_item_purchased"])
    token = api_token(settings, settings.admin_username, admin_password)
    httpx.patch(
        f"{settings.airflow_url}/api/v2/dags/{DAG_ID}",
        json={"is_paused": False},
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()

    # The admin triggers the DAG in the UI.
    admin = login(browser, settings, settings.admin_username, admin_password)
    admin.goto(f"{settings.airflow_url}/dags/{DAG_ID}")
    admin.get_by_role("button", name="Trigger").first.click()
    dialog = admin.get_by_role("dialog")
    dialog.wait_for()
    shot(admin, "01-admin-trigger-dialog")
    with admin.expect_response(lambda r: r.request.method == "POST" and f"/dags/{DAG_ID}/dagRuns" in r.url) as posted:
        dialog.get_by_role("button", name="Trigger").last.click()
    run_id = posted.value.json()["dag_run_id"]
    assert wait_for_run(settings, token, run_id) == "success"

    # The task's log says what was published.
    admin.goto(f"{settings.airflow_url}/dags/{DAG_ID}/runs/{run_id}/tasks/publish_reports/mapped/0")
    admin.get_by_text("published game_purchases_by_item").first.wait_for()
    shot(admin, "02-admin-task-log")

    # The report through the navigation: Browse -> Reports -> the report.
    admin.goto(f"{settings.airflow_url}/")
    admin.get_by_role("button", name="Browse").click()
    admin.get_by_role("menuitem", name="Reports").click()
    frame = admin.frame_locator("iframe").first
    frame.locator("h1", has_text="eventlake reports").wait_for()
    frame.locator(f"a[href='reports/game_purchases_by_item/{interval.id}/']").click()
    assert_report_shown(frame, revenue)
    shot(admin, "03-admin-report-via-navigation")

    # The report through the DAG run's tab.
    admin.goto(f"{settings.airflow_url}/dags/{DAG_ID}/runs/{run_id}")
    admin.get_by_role("link", name="Report", exact=True).click()
    frame = admin.frame_locator("iframe").first
    frame.locator("h1", has_text="Reports of run_analytics_daily").wait_for()
    shot(admin, "04-admin-run-tab")
    frame.get_by_role("link", name=PURCHASES_TITLE).click()
    assert_report_shown(frame, revenue)
    shot(admin, "05-admin-report-via-run-tab")
    csv = admin.request.get(
        f"{settings.airflow_url}/eventlake-reports/reports/game_purchases_by_item/{interval.id}/result.csv"
    )
    assert csv.status == 200
    assert str(revenue) in csv.text()
    base = f"{settings.airflow_url}/eventlake-reports"
    for missing in (
        f"/reports/no_such_report/{interval.id}/",
        "/reports/game_purchases_by_item/20200101T0000Z--20200102T0000Z/",
        f"/reports/game_purchases_by_item/{interval.id}/..%2F..%2F..%2Findex.json",
        "/reports/..%2F..%2F..%2Fetc/passwd/",
        f"/runs/{DAG_ID}/no-such-run",
    ):
        assert admin.request.get(base + missing).status == 404, missing

    # The viewer reads the same report but may not trigger anything.
    viewer = login(browser, settings, settings.viewer_username, settings.viewer_password.get_secret_value())
    viewer.get_by_role("button", name="Browse").click()
    viewer.get_by_role("menuitem", name="Reports").click()
    frame = viewer.frame_locator("iframe").first
    frame.locator(f"a[href='reports/game_purchases_by_item/{interval.id}/']").click()
    assert_report_shown(frame, revenue)
    shot(viewer, "06-viewer-report-via-navigation")
    viewer_token = api_token(settings, settings.viewer_username, settings.viewer_password.get_secret_value())
    forbidden = httpx.post(
        f"{settings.airflow_url}/api/v2/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None},
        headers={"Authorization": f"Bearer {viewer_token}"},
        timeout=60,
    )
    assert forbidden.status_code == 403
