"""The screens in a real browser (Playwright driving Debian's Chromium): what staff click, what the chart draws.

Any console error, page error or failed request on any page fails the test. Screenshots of each
screen land in test-artifacts/screens/ for a person to look at.
"""

import csv
import io
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from django.core.management import call_command
from django.db import connections
from django.db.models import Count
from django.utils import timezone

from contacts.models import Reason, Source, Subscription
from contacts.screens import REASON_COLORS
from tests.conftest import ROOT, require
from tests.screens.conftest import staff_in

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]  # fmt: skip
SHOTS = ROOT / "test-artifacts" / "screens"
PASSWORD = "a-long-password-1"


@pytest.fixture
def browser():
    """A headless Chromium; skipped without it (failed under REQUIRE_SERVICES=1)."""
    require(Path(CHROMIUM).exists() or bool(shutil.which("chromium")), f"needs Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM calls
    # are still plain synchronous code, so Django may serve them.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
                # The test's queries ran while Playwright's greenlet was active and got a connection of
                # their own (Django keys connections by context); close it so the test database can go.
                connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Watched:
    """A page whose console errors, uncaught exceptions and failed requests are collected."""

    def __init__(self, browser, base_url: str):
        self.base_url = base_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda msg: msg.type == "error" and self.problems.append(f"console: {msg.text}"))
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", lambda req: self.problems.append(f"request failed: {req.url}"))
        self.page.on(
            "response", lambda res: res.status >= 400 and self.problems.append(f"HTTP {res.status}: {res.url}")
        )

    def shot(self, name: str) -> None:
        assert not self.problems, self.problems
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def chart(self, canvas_id: str) -> dict:
        """What Chart.js drew on the canvas: its labels and data, read back from the chart object."""
        self.page.wait_for_function(f"() => window.Chart && Chart.getChart(document.getElementById('{canvas_id}'))")
        return self.page.evaluate(
            f"""() => {{
                const chart = Chart.getChart(document.getElementById('{canvas_id}'));
                return {{labels: chart.data.labels, data: chart.data.datasets[0].data,
                         colors: chart.data.datasets[0].backgroundColor, drawn: chart.chartArea.width > 0}};
            }}"""
        )

    def table_counts(self) -> dict[str, int]:
        rows = self.page.locator("#opt-out-reasons-table tbody tr")
        return {
            rows.nth(i).get_attribute("data-reason"): int(rows.nth(i).locator("td").first.inner_text().replace(",", ""))
            for i in range(rows.count())
        }


def reasons_in_db(days: int) -> dict[str, int]:
    since = timezone.now() - timedelta(days=days)
    counts = dict(
        Subscription.objects.opted_out_between(since, None).values_list("opt_out_reason").annotate(n=Count("id"))
    )
    return {reason.value: counts.get(reason.value, 0) for reason in Reason}


@pytest.mark.timeout(180)
def test_staff_walk_through_the_screens(live_server, django_db_serialized_rollback, program, browser):
    staff_in("Operator", username="operator")
    watched = Watched(browser, live_server.url)
    page = watched.page

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    watched.shot("01-admin-index")

    # Two clicks from the index: the app's link to the screen, then a tab.
    page.click("#contacts-smscontact a, tr.model-smscontact a >> nth=0")
    page.wait_for_selector(".screen-tabs")
    watched.shot("02-sms-contacts-subscribed")
    page.click("#tab-opted_out")
    page.wait_for_selector("#numbers")
    assert "tab=opted_out" in page.url and "sender_code=%2B18885550100" in page.url  # the first code by default
    assert page.locator("#numbers tbody th").all_inner_texts() == ["(202) 555-0101", "(202) 555-0105"]
    watched.shot("03-opted-out-toll-free")

    page.select_option("#sender-code", "45678")
    page.click(".screen-code-picker input[type=submit]")
    page.wait_for_selector("#numbers")
    assert "sender_code=45678" in page.url and "tab=opted_out" in page.url
    assert page.locator("#numbers tbody th").all_inner_texts() == ["(202) 555-0101", "(202) 555-0102"]
    assert "603" in page.locator("#numbers").inner_text()
    watched.shot("04-opted-out-short-code")

    page.select_option("#id_reason", "stop")
    page.click(".screen-filters input[type=submit]")
    page.wait_for_selector("#numbers")
    assert "reason=stop" in page.url
    assert page.locator("#numbers tbody th").all_inner_texts() == ["(202) 555-0102"]
    watched.shot("05-opted-out-filtered-by-stop")

    page.fill("#id_q", "202.555.0101")
    page.select_option("#id_reason", "")
    page.click(".screen-filters input[type=submit]")
    page.wait_for_selector("#numbers")
    assert page.locator("#numbers tbody th").all_inner_texts() == ["(202) 555-0101"]

    page.click("#numbers tbody th a")
    page.wait_for_selector("#number-history")
    history = page.locator("#number-history").inner_text()
    assert "Opt-out event" in history and "Deactivated" in history and "Opted in" in history
    watched.shot("06-number-history")
    page.click("text=Back to the list")
    page.wait_for_selector("#numbers")

    page.goto(f"{live_server.url}/admin/")
    page.click("tr.model-listhealth a >> nth=0")
    page.wait_for_selector("#lists")
    watched.shot("07-list-health")

    page.click("#lists a:text('Flash Sales')")
    page.wait_for_selector("#counts")
    trend = watched.chart("opt-out-trend-chart")
    assert trend["drawn"] and sum(trend["data"]) == 2  # Flash Sales: the deactivation and the STOP, this month
    watched.shot("08-list-dashboard")

    page.goto(f"{live_server.url}/admin/contacts/listhealth/")
    page.click("text=Opt-out reasons chart")
    drawn = watched.chart("opt-out-reasons-chart")
    assert drawn["drawn"]
    assert drawn["labels"] == [reason.label for reason in Reason]  # every reason, always in this order
    assert drawn["colors"] == [REASON_COLORS[reason] for reason in Reason]
    assert watched.table_counts() == reasons_in_db(30)
    assert drawn["data"] == list(reasons_in_db(30).values())
    watched.shot("09-opt-out-reasons-30-days")

    page.click("text=Last 90 days")
    page.wait_for_url("**days=90**")
    drawn = watched.chart("opt-out-reasons-chart")
    assert watched.table_counts() == reasons_in_db(90)
    assert reasons_in_db(90)["porting"] == 1  # 45 days ago: outside 30 days, inside 90
    assert drawn["data"] == list(reasons_in_db(90).values())
    watched.shot("10-opt-out-reasons-90-days")

    page.fill("#range-since", "2020-01-01")
    page.fill("#range-until", "2020-01-31")
    page.click(".screen-range input[type=submit]")
    page.wait_for_selector("#no-opt-outs")
    assert page.locator("#opt-out-reasons-chart").count() == 0
    assert "No opt-outs in this period" in page.locator("#no-opt-outs").inner_text()
    watched.shot("11-opt-out-reasons-empty-period")

    page.goto(f"{live_server.url}/admin/contacts/savedfilter/add/")
    page.fill("#id_name", "Flash buyers")
    page.select_option("#id_lists_from", label=str(program.flash))
    page.click("#id_lists_add")
    page.wait_for_function("() => document.getElementById('audience-count').textContent.trim() === '1'")
    watched.shot("12-audience-filter-live-count")

    assert not watched.problems, watched.problems
    watched.context.close()


# Serialized like every live-server test: a plain flush afterwards would recreate the staff groups and
# break the next test that restores the database from its serialized copy.
def test_chart_library_is_served_from_the_npm_package(live_server, django_db_serialized_rollback, browser):
    context = browser.new_context()
    response = context.request.get(f"{live_server.url}/static/chartjs/chart.umd.js")
    assert response.status == 200
    assert b"Chart" in response.body()[:2000]
    context.close()


@pytest.mark.timeout(180)
def test_an_owner_answers_yes_on_the_emailed_link(
    live_server, django_db_serialized_rollback, program, browser, settings
):
    """Issue 19's loop: the export's link, opened in the browser without login, yes clicked, the confirmation seen;
    the database then holds a new consent with source reengagement, and the link is used up."""
    settings.REENGAGE_BASE_URL = live_server.url
    out = io.StringIO()
    call_command("export_reengagement", "--list", "Flash Sales", stdout=out, stderr=io.StringIO())
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    watched = Watched(browser, live_server.url)
    page = watched.page

    page.goto(row["link"])
    assert page.locator("#masked-phone").inner_text() == "+1 (202) ***-0101"
    assert "Flash Sales" in page.locator("#list").inner_text()
    assert "555-0101" not in page.content()
    watched.shot("13-reconsent-question")
    subscription = Subscription.objects.get(contact=program.deactivated, list=program.flash)
    assert not subscription.is_opted_in  # R4: opening the link changes nothing

    page.click("#answer-yes")
    page.wait_for_selector("#confirmation[data-answer=yes]")
    assert "subscribed again" in page.locator("#confirmation").inner_text()
    watched.shot("14-reconsent-confirmed")
    subscription.refresh_from_db()
    assert subscription.is_opted_in and subscription.opt_in_source == Source.REENGAGEMENT
    other = Subscription.objects.get(contact=program.deactivated, list=program.digest)
    assert not other.is_opted_in  # only the subscription the link names

    answer = page.goto(row["link"])
    assert answer.status == 410 and page.locator("#problem[data-problem=used]").count() == 1
    watched.context.close()
