"""The deactivation reports admin: what each file did and why one failed; fetch and upload for those allowed (R12)."""

import pytest

from django.contrib.auth.models import Permission, User
from django.contrib.staticfiles import finders
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from reports import s3, services
from reports.models import DeactivationReport
from tests.reports.builders import DAY, A, B, C, dated_key, opted_out, report_csv, subscribed, upload

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:reports_deactivationreport_changelist"
UPLOAD = "admin:reports_deactivationreport_upload"
FETCH = "admin:reports_deactivationreport_fetch_latest"


def page(report: DeactivationReport) -> str:
    return reverse("admin:reports_deactivationreport_change", args=[report.pk])


@pytest.fixture
def applied(db) -> DeactivationReport:
    """A report that applied, with a bad row and a row from the future among the good ones."""
    subscribed(A)
    body = report_csv((A, DAY)) + b"+1 (202) 555-01,2026-01-01\n" + f"{A},2999-01-01\n".encode()
    body += report_csv((B, DAY), (C, DAY)).split(b"\n", 1)[1]  # mostly good: a layout we read (issue 16)
    return services.ingest(upload(body, name="provider-monday.csv")).report


@pytest.fixture
def failed(db) -> DeactivationReport:
    report = upload(b"<html><body>Bad Gateway</body></html>", name="gateway.csv")
    with pytest.raises(services.ReportFailed):
        services.ingest(report)
    report.refresh_from_db()
    return report


@pytest.fixture
def viewer(client) -> User:
    """Staff who may look at reports but not start one (R12)."""
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_deactivationreport"))
    client.force_login(user)
    return user


def test_the_list_shows_each_report_with_its_status_counts_and_why_it_failed(admin_client, applied, failed):
    response = admin_client.get(reverse(CHANGELIST))

    content = response.content.decode()
    assert response.status_code == 200
    assert '<span class="report-status report-status--failed">Failed</span>' in content
    assert '<span class="report-status report-status--succeeded">Succeeded</span>' in content
    assert "not a deactivation report: looks like an HTML page" in content
    assert "provider-monday.csv" in content
    assert 'href="/static/css/reports.css"' in content
    assert "Fetch latest now" in content and reverse(UPLOAD) in content


def test_the_list_filters_by_status_and_origin(admin_client, applied, failed):
    response = admin_client.get(reverse(CHANGELIST), {"status__exact": "failed", "origin__exact": "upload"})

    assert list(response.context["cl"].result_list) == [failed]


def test_a_reports_page_shows_counts_timings_and_invalid_rows_read_only(admin_client, applied):
    response = admin_client.get(page(applied))

    content = response.content.decode()
    assert response.status_code == 200
    assert '<th scope="col">Line</th><th scope="col">Reason</th>' in content
    assert "<tr><td>3</td><td>too short</td><td><code>+1 (***) *55-01</code></td></tr>" in content
    assert "<tr><td>4</td><td>date in the future</td><td><code>2999-01-01</code></td></tr>" in content
    for label in ("Rows", "Valid", "Invalid", "Duplicates", "Matched contacts", "Opted out", "Stale", "Bytes read"):
        assert f"<label>{label}:</label>" in content
    assert "Duration" in content and "Started at" in content
    assert 'name="_save"' not in content


def test_a_failed_reports_page_says_why(admin_client, failed):
    content = admin_client.get(page(failed)).content.decode()

    assert "report-status--failed" in content
    assert "not a deactivation report: looks like an HTML page" in content


def test_reports_are_never_added_edited_or_deleted_by_hand(admin_client, applied):
    opts = "admin:reports_deactivationreport"

    assert admin_client.get(reverse(f"{opts}_add")).status_code == 403
    assert admin_client.post(page(applied), {"rows": 0}).status_code == 403
    assert admin_client.post(reverse(f"{opts}_delete", args=[applied.pk]), {"post": "yes"}).status_code == 403
    assert DeactivationReport.objects.get(pk=applied.pk).rows == applied.rows


def test_the_stylesheet_is_found_by_staticfiles():
    assert finders.find("css/reports.css")


def test_upload_stores_the_file_and_queues_the_same_pipeline(admin_client, django_capture_on_commit_callbacks):
    sub = subscribed(A)
    assert admin_client.get(reverse(UPLOAD)).status_code == 200
    file = SimpleUploadedFile("twilio-daily.txt", b"12025550143\n", content_type="text/plain")

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = admin_client.post(reverse(UPLOAD), {"file": file, "report_date": DAY.isoformat()}, follow=True)

    report = DeactivationReport.objects.get()
    assert response.redirect_chain == [(page(report), 302)]
    assert len(queued) == 1
    assert "Stored twilio-daily.txt as report" in response.content.decode()
    assert (report.origin, report.file_name, report.report_date) == ("upload", "twilio-daily.txt", DAY)
    assert report.status == DeactivationReport.Status.SUCCEEDED
    assert opted_out(sub) == [True]


def test_uploading_an_applied_file_again_changes_nothing_and_says_so(
    admin_client, applied, django_capture_on_commit_callbacks
):
    body = applied.file.open("rb").read()
    file = SimpleUploadedFile("again.csv", body)

    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.post(reverse(UPLOAD), {"file": file}, follow=True)

    assert queued == []
    assert f"already applied as report #{applied.pk}; nothing changed" in response.content.decode()
    assert DeactivationReport.objects.count() == 1


def test_upload_without_a_file_shows_the_form_again(admin_client):
    response = admin_client.post(reverse(UPLOAD), {"report_date": "not a date"})

    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"file", "report_date"}
    assert DeactivationReport.objects.count() == 0


def test_fetch_latest_now_takes_only_a_post(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.get(reverse(FETCH))

    assert response.status_code == 405
    assert queued == []


def test_fetch_latest_now_queues_and_says_so(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        response = admin_client.post(reverse(FETCH), follow=True)

    assert response.redirect_chain == [(reverse(CHANGELIST), 302)]
    assert len(queued) == 1
    assert "Fetching the latest deactivation report" in response.content.decode()


def test_fetch_latest_now_needs_a_csrf_token(admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)

    assert browser.post(reverse(FETCH)).status_code == 403


def test_staff_who_only_view_reports_cannot_fetch_or_upload(
    client, viewer, applied, django_capture_on_commit_callbacks
):
    listing = client.get(reverse(CHANGELIST))
    with django_capture_on_commit_callbacks() as queued:
        fetch = client.post(reverse(FETCH))
        form = client.get(reverse(UPLOAD))
        posted = client.post(reverse(UPLOAD), {"file": SimpleUploadedFile("x.csv", report_csv((A, DAY)))})

    assert listing.status_code == 200
    assert "Fetch latest now" not in listing.content.decode()
    assert client.get(page(applied)).status_code == 200
    assert (fetch.status_code, form.status_code, posted.status_code) == (403, 403, 403)
    assert queued == []
    assert DeactivationReport.objects.count() == 1


def test_not_published_is_visible_in_the_list(admin_client, s3_reports):
    with pytest.raises(s3.ReportNotPublished):
        services.fetch_dated(DAY)

    content = admin_client.get(reverse(CHANGELIST)).content.decode()

    assert "report-status--pending" in content
    assert f"s3://{s3_reports.bucket}/{dated_key(DAY)} is not published" in content


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_in_process_a_failing_upload_shows_the_failed_report_not_an_error_page(admin_client):
    # Issue 13 point 10. No transaction around the request: the queued ingest runs at once, in-process, fails,
    # and on_commit(robust=True) logs it; that log line once read the callback's __qualname__ and raised (500).
    file = SimpleUploadedFile("gateway.csv", b"<html><body>Bad Gateway</body></html>", content_type="text/csv")

    response = admin_client.post(reverse(UPLOAD), {"file": file}, follow=True)

    report = DeactivationReport.objects.get()
    assert response.status_code == 200
    assert response.redirect_chain == [(page(report), 302)]
    assert report.status == DeactivationReport.Status.FAILED
    assert "not a deactivation report" in response.content.decode()
