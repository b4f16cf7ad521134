"""The report tasks: run by a real worker on Redis, retried only while a report is not published yet."""

from datetime import timedelta

import pytest
from celery.exceptions import Retry

from django.urls import reverse

from contacts.models import OptOutEvent
from reports import s3, services, tasks
from reports.models import DeactivationReport
from tests.reports.builders import DAY, LATEST_KEY, TODAY, A, B, dated_key, opted_out, report_csv, subscribed, upload
from tests.s3_endpoint import Fault

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the worker sees committed rows only
def test_ingest_report_applies_an_uploaded_file_on_a_real_worker(celery_worker):
    sub = subscribed(A)
    report = upload(report_csv((A, DAY), (B, DAY)), name="provider.csv")

    counts = tasks.ingest_report.delay(report.pk).get(timeout=60)

    assert (counts["rows"], counts["matched_contacts"], counts["opted_out"]) == (2, 1, 1)
    report.refresh_from_db()
    assert report.status == DeactivationReport.Status.SUCCEEDED
    assert opted_out(sub) == [True]
    assert celery_worker.poll() is None


def test_fetch_latest_now_queues_the_task_which_applies_the_report(
    admin_client, s3_reports, django_capture_on_commit_callbacks
):
    sub = subscribed(A)
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    s3_reports.put(LATEST_KEY, report_csv((A, DAY)))

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = admin_client.post(reverse("admin:reports_deactivationreport_fetch_latest"))

    assert response.status_code == 302
    assert len(queued) == 1
    report = DeactivationReport.objects.get()
    assert (report.key, report.status) == (dated_key(DAY), DeactivationReport.Status.SUCCEEDED)
    assert opted_out(sub) == [True]


def test_latest_not_published_is_retried_later(s3_reports):
    with pytest.raises(Retry) as retry:
        tasks.ingest_latest_report.delay()

    assert isinstance(retry.value.exc, s3.ReportNotPublished)
    assert tasks.ingest_latest_report.max_retries == 12
    assert [request.operation for request in s3_reports.requests].count("HeadObject") == 1
    waiting = DeactivationReport.objects.get()
    assert (waiting.key, waiting.status) == (LATEST_KEY, DeactivationReport.Status.PENDING)
    assert "is not published" in waiting.error


@pytest.mark.parametrize("operation", ["ListObjectsV2", "GetObject"])
def test_access_denied_fails_once_without_a_retry_storm(s3_reports, operation):
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    s3_reports.put(LATEST_KEY, report_csv((A, DAY)))
    s3_reports.proxy.fault = lambda request: Fault(403, "AccessDenied") if request.operation == operation else None

    with pytest.raises((s3.ReportAccessDenied, services.ReportFailed), match=r"denied \(AccessDenied\)"):
        tasks.ingest_latest_report.delay()

    assert [request.status for request in s3_reports.requests if request.operation == operation] == [403]
    failed = DeactivationReport.objects.get()
    assert failed.status == DeactivationReport.Status.FAILED
    assert "denied (AccessDenied)" in failed.error
    assert OptOutEvent.objects.count() == 0


def test_backfill_task_counts_the_reports_it_applied(s3_reports):
    for day in (TODAY - timedelta(days=9), TODAY - timedelta(days=8)):
        s3_reports.put(dated_key(day), report_csv((A, day)))

    assert tasks.backfill_reports.delay().get() == 2
    assert tasks.backfill_reports.delay().get() == 0
