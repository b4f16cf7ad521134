"""Deactivation sources side by side (issue 18): one pipeline, identities per source (R6), one ledger row and one
opt-out for a number two sources report (R13), backfill across sources, the guard (R14), schedules and settings."""

import io
from datetime import timedelta

import pytest
from celery import signals
from django_celery_beat.models import PeriodicTask

from django.core.management import call_command
from django.urls import reverse

from contacts.models import OptOutEvent
from reports import checks, fetching, health, schedules, services
from reports.models import DeactivationReport
from smsprogram.celery import app
from tests.reports.builders import DAY, TODAY, A, B, C, at, dated_key, numbers, opted_out, subscribe_many, subscribed
from tests.support.commands import run
from tests.support.ledger import ledger_rows

pytestmark = pytest.mark.django_db
Status = DeactivationReport.Status


def one_a_line(*phones: str) -> bytes:
    return "".join(f"{phone}\n" for phone in phones).encode()


def test_r13_two_sources_reporting_a_number_the_same_day_make_one_ledger_row_and_one_opt_out(twilio, feed):
    sub = subscribed(A)
    twilio.publish(DAY, one_a_line(A))
    feed.files[DAY] = one_a_line(A)

    first = fetching.fetch_dated("twilio", DAY).report
    second = fetching.fetch_dated("http", DAY).report

    assert first.pk != second.pk  # the same file from two sources is two reports (R6)
    assert (first.opted_out, second.opted_out, second.already_opted_out) == (1, 0, 1)
    assert opted_out(sub) == [True] and OptOutEvent.objects.count() == 1
    assert OptOutEvent.objects.get().ref == first
    assert ledger_rows() == {(A, DAY)}


def test_r6_a_source_and_day_again_names_the_same_report_per_source(twilio, feed):
    twilio.publish(DAY, one_a_line(A))
    feed.files[DAY] = one_a_line(A)
    reports = {source: fetching.fetch_dated(source, DAY).report for source in ("twilio", "http")}

    again = {source: fetching.fetch_dated(source, DAY) for source in ("twilio", "http")}

    assert {source: (result.report.pk, result.message) for source, result in again.items()} == {
        source: (report.pk, services.ALREADY_APPLIED) for source, report in reports.items()
    }
    assert DeactivationReport.objects.count() == 2


def test_backfill_of_each_source_applies_its_own_days(s3_reports, twilio, feed, settings):
    settings.DEACT_HTTP_DAYS_KEPT = 2
    subs = subscribed(A), subscribed(B), subscribed(C)
    yesterday = TODAY - timedelta(days=1)
    s3_reports.put(dated_key(DAY), b"phone_number,deactivation_date\n" + f"{A},{DAY}\n".encode())
    twilio.publish(yesterday, one_a_line(B))
    feed.files[yesterday] = one_a_line(C)

    outputs = {
        source: run("ingest_deactivations", "--source", source, "--backfill") for source in ("aws", "twilio", "http")
    }

    assert {source: code for source, (code, _, _) in outputs.items()} == {"aws": 0, "twilio": 0, "http": 0}
    assert "applied=1 " in outputs["aws"][1].splitlines()[-1]
    assert (
        outputs["twilio"][1]
        .splitlines()[-1]
        .startswith("backfill: reports=90 applied=1 already_applied=0 failed=0 not_ready=89 ")
    )
    assert (
        outputs["http"][1]
        .splitlines()[-1]
        .startswith("backfill: reports=2 applied=1 already_applied=0 failed=0 not_ready=1 ")
    )
    assert opted_out(*subs) == [True, True, True]
    applied = DeactivationReport.objects.filter(status=Status.SUCCEEDED)
    assert sorted(report.source for report in applied) == ["aws", "http", "twilio"]


def test_r14_a_twilio_report_that_would_opt_out_half_a_list_is_held_then_released_once(twilio):
    phones = list(numbers(300))
    subscribe_many(phones, lists=1)
    twilio.publish(DAY, one_a_line(*phones[:150]))

    code, out, error = run("ingest_deactivations", "--source", "twilio", "--date", DAY.isoformat())

    report = DeactivationReport.objects.get()
    assert code == 3 and out.startswith(f"held: report={report.pk} ") and "would_opt_out=150" in out
    assert report.status == Status.HELD and OptOutEvent.objects.count() == 0

    call_command("release_report", str(report.pk), stdout=io.StringIO())  # fetched again from Twilio, applied

    report.refresh_from_db()
    assert report.status == Status.SUCCEEDED and OptOutEvent.objects.count() == 150
    assert OptOutEvent.objects.filter(occurred_at=at(DAY)).count() == 150
    code, _, error = run("release_report", str(report.pk))
    assert code == 1 and "not held" in error and OptOutEvent.objects.count() == 150


def test_the_reports_list_shows_and_filters_by_source(admin_client, twilio, feed):
    twilio.publish(DAY, one_a_line(A))
    feed.files[DAY] = one_a_line(A)
    from_twilio = fetching.fetch_dated("twilio", DAY).report
    fetching.fetch_dated("http", DAY)

    everything = admin_client.get(reverse("admin:reports_deactivationreport_changelist"))
    only_twilio = admin_client.get(reverse("admin:reports_deactivationreport_changelist"), {"origin__exact": "twilio"})

    content = everything.content.decode()
    assert '<th scope="col" class="sortable column-origin">' in content and ">Source<" in content
    assert '<td class="field-origin">Twilio</td>' in content and '<td class="field-origin">HTTP feed</td>' in content
    assert "By source" in content
    assert list(only_twilio.context["cl"].result_list) == [from_twilio]


def test_each_source_has_a_daily_and_a_backfill_schedule_enabled_by_deact_sources(settings):
    app.loader.import_default_modules()
    by_source = {}
    for task in PeriodicTask.objects.filter(task__in=schedules.SOURCE_TASKS):
        by_source.setdefault(schedules.source_of(task.kwargs), []).append((task.task.rsplit(".", 1)[1], task.enabled))
        assert task.task in app.tasks and task.crontab is not None
    assert {source: sorted(tasks) for source, tasks in by_source.items()} == {
        "aws": [("backfill_reports", True), ("ingest_latest_report", True)],
        "twilio": [("backfill_reports", False), ("ingest_latest_report", False)],
        "http": [("backfill_reports", False), ("ingest_latest_report", False)],
    }
    assert health.enabled_sources() == ["aws"]

    settings.DEACT_SOURCES = ["twilio", "http"]
    assert schedules.sync_source_schedules() == 6

    enabled = PeriodicTask.objects.filter(task__in=schedules.SOURCE_TASKS, enabled=True)
    assert sorted({schedules.source_of(task.kwargs) for task in enabled}) == ["http", "twilio"]
    assert health.enabled_sources() == ["twilio", "http"]
    assert schedules.sync_source_schedules() == 0


def test_fetch_latest_now_queues_each_enabled_source(admin_client, settings, django_capture_on_commit_callbacks):
    settings.DEACT_SOURCES = ["twilio", "http"]

    with django_capture_on_commit_callbacks(execute=False) as queued:
        admin_client.post(reverse("admin:reports_deactivationreport_fetch_latest"))

    assert [callback.__qualname__ for callback in queued] == ["reports.tasks.ingest_latest_report.delay"] * 2


def test_deact_sources_is_checked_and_an_enabled_sources_gaps_are_named_without_secrets(settings):
    settings.DEACT_SOURCES = ["aws", "sftp"]
    [error] = checks.deact_sources()
    assert error.id == "reports.E004" and "'sftp'" in error.msg

    settings.DEACT_SOURCES = ["twilio", "http"]
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC123", ""
    settings.DEACT_HTTP_URL, settings.DEACT_HTTP_HEADERS = "https://feed.example/d?date={date}", "X-Key"
    warnings = checks.deact_sources()
    assert [warning.id for warning in warnings] == ["reports.W002", "reports.W002"]
    assert "TWILIO_AUTH_TOKEN is not set" in warnings[0].msg
    assert "pair 1 of DEACT_HTTP_HEADERS is not Name=value" in warnings[1].msg


def test_beat_starting_and_migrate_bring_the_schedules_in_line_with_deact_sources(settings, twilio):
    settings.DEACT_SOURCES = ["twilio"]

    signals.beat_init.send(sender=None)

    assert health.enabled_sources() == ["twilio"]
    twilio.publish(DAY, one_a_line(A))
    fetching.fetch_dated("twilio", DAY)
    code, out, _ = run("check_ingestion")
    assert code == 0 and out.startswith("ok: twilio age_hours=0.0 ")

    settings.DEACT_SOURCES = ["aws"]
    call_command("migrate", verbosity=0)

    assert health.enabled_sources() == ["aws"]
