"""Issue 13, point 2: a stored upload's file is deleted UPLOAD_RETENTION_DAYS after its upload by a daily task;
the report and import rows keep their counts, and their pages say the file was removed by retention."""

from datetime import timedelta
from pathlib import Path

import pytest
from django_celery_beat.models import PeriodicTask

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from reports import services as reports
from reports.models import DeactivationReport
from tests.reports.builders import DAY, A, report_csv, subscribed, upload
from tests.transfers.conftest import SUBSCRIPTIONS_HEADER
from transfers import retention, services, tasks
from transfers.models import ImportJob

pytestmark = pytest.mark.django_db
NOW = timezone.now()
# Not A: A is deactivated by the report below, and a consent older than that is refused (R13).
IMPORT = (SUBSCRIPTIONS_HEADER + "+12025550177,45678,Flash,2026-01-01,,\n").encode()


def uploaded_days_ago(row, days: int):
    type(row).objects.filter(pk=row.pk).update(created_at=NOW - timedelta(days=days))
    row.refresh_from_db()
    return row


def imported(flash, operator, *, days: int, confirm: bool = True) -> ImportJob:
    job = services.start_import(kind="subscriptions", upload=SimpleUploadedFile("list.csv", IMPORT), user=operator)
    if confirm:
        services.confirm(job, now=NOW)
    return uploaded_days_ago(job, days)


def stored(row) -> Path:
    return Path(row.file.path)


def test_files_older_than_the_retention_go_newer_ones_stay_and_every_row_keeps_its_counts(flash, staff, settings):
    subscribed(A)
    old_report = uploaded_days_ago(reports.ingest(upload(report_csv((A, DAY)), name="old.csv")).report, 91)
    new_report = uploaded_days_ago(upload(report_csv(("+12025550199", DAY)), name="new.csv"), 89)
    operator = staff("Operator")
    old_job, new_job = imported(flash, operator, days=91), imported(flash, operator, days=10)
    paths = {row: stored(row) for row in (old_report, new_report, old_job, new_job)}
    assert all(path.exists() for path in paths.values())

    removed = tasks.remove_expired_uploads()  # the beat task, on the real clock: NOW is seconds ago

    assert removed == {"reports": 1, "imports": 1, "exports": 0}
    assert [paths[row].exists() for row in (old_report, new_report, old_job, new_job)] == [False, True, False, True]
    old_report.refresh_from_db()
    old_job.refresh_from_db()
    assert (old_report.file.name, old_report.status, old_report.opted_out, old_report.rows) == ("", "succeeded", 1, 1)
    assert (old_job.file.name, old_job.status, old_job.result["created"]) == ("", ImportJob.Status.APPLIED, 1)
    assert old_report.file_removed_at and old_job.file_removed_at
    assert retention.remove_expired_uploads(now=timezone.now()) == {
        "reports": 0,
        "imports": 0,
        "exports": 0,
    }  # done once


def test_the_pages_say_the_file_was_removed_by_retention(admin_client, flash, staff):
    report = uploaded_days_ago(upload(report_csv((A, DAY))), 120)
    job = imported(flash, staff("Operator"), days=120)
    kept = uploaded_days_ago(upload(report_csv(("+12025550199", DAY))), 1)

    retention.remove_expired_uploads(now=NOW)

    removed_on = f"removed by retention on {NOW:%Y-%m-%d}"
    report_page = admin_client.get(reverse("admin:reports_deactivationreport_change", args=[report.pk]))
    job_page = admin_client.get(reverse("admin:transfers_importjob_change", args=[job.pk]))
    assert removed_on in report_page.content.decode()
    assert removed_on in job_page.content.decode()
    assert "What the import did" in job_page.content.decode()  # its counts stay on the page
    kept_page = admin_client.get(reverse("admin:reports_deactivationreport_change", args=[kept.pk])).content.decode()
    assert "kept until" in kept_page and "removed by retention" not in kept_page


def test_an_import_never_confirmed_fails_with_the_reason_instead_of_waiting_for_a_file_that_is_gone(
    admin_client, flash, staff
):
    job = imported(flash, staff("Operator"), days=100, confirm=False)
    assert job.status == ImportJob.Status.PREVIEWED

    retention.remove_expired_uploads(now=NOW)

    job.refresh_from_db()
    assert (job.status, job.error) == (ImportJob.Status.FAILED, retention.REMOVED)
    response = admin_client.post(reverse("admin:transfers_importjob_confirm", args=[job.pk]), follow=True)
    assert "not waiting for confirmation" in response.content.decode()


def test_uploading_again_a_report_whose_file_retention_removed_before_it_applied_brings_the_file_back():
    sub = subscribed(A)
    body = report_csv((A, DAY))
    report = uploaded_days_ago(upload(body), 100)  # pending: never applied
    retention.remove_expired_uploads(now=NOW)
    report.refresh_from_db()
    assert (report.status, report.file.name) == (DeactivationReport.Status.FAILED, "")

    again = upload(body)

    assert again.pk == report.pk and again.file_removed_at is None and stored(again).exists()
    assert reports.ingest(again).applied
    sub.refresh_from_db()
    assert sub.status == sub.Status.OPTED_OUT


def test_a_retention_setting_of_a_year_keeps_a_file_of_three_months(settings, flash, staff):
    settings.UPLOAD_RETENTION_DAYS = 365
    job = imported(flash, staff("Operator"), days=100)

    assert retention.remove_expired_uploads(now=NOW) == {"reports": 0, "imports": 0, "exports": 0}
    assert stored(job).exists()


def test_retention_runs_daily_from_the_beat_schedule():
    task = PeriodicTask.objects.get(task="transfers.tasks.remove_expired_uploads")
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute, str(task.crontab.timezone)) == ("3", "30", "UTC")
