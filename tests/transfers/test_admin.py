"""The admin flow as each group sees it: upload → preview → confirm for Operator; Viewer and strangers refused."""

import csv
import io

import pytest

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.csvio import escape_cell
from contacts.models import Contact, SenderCode, SubscriberList, Subscription
from reports.models import DeactivationReport
from tests.factories import ContactFactory, SubscriptionFactory, at
from tests.transfers.conftest import SUBSCRIPTIONS_HEADER, upload
from transfers import services
from transfers.models import ImportJob

pytestmark = pytest.mark.django_db
FILE = (
    SUBSCRIPTIONS_HEADER + "+12025550143,45678,Flash,2026-01-01,,\n" + "not a number,45678,Flash,2026-01-01,,\n"
).encode()


def job_page(client, job):
    return client.get(reverse("admin:transfers_importjob_change", args=[job.pk]))


def test_operator_previews_then_confirms_and_the_import_is_written_once(operator_client, flash):
    response, job = upload(operator_client, "subscriptions", FILE)

    assert response.status_code == 302
    page = job_page(operator_client, job).content.decode()
    assert "Preview: what confirming will do" in page and "Confirm import" in page
    assert "<td>3</td><td>invalid phone number: not a phone number</td>" in page
    assert Subscription.objects.count() == 0

    confirmed = operator_client.post(reverse("admin:transfers_importjob_confirm", args=[job.pk]), follow=True)

    assert "Imported file.csv: 1 created, 0 updated, 0 skipped, 1 invalid." in confirmed.content.decode()
    job.refresh_from_db()
    assert (job.status, job.result["created"], job.rows_done) == (ImportJob.Status.APPLIED, 1, 2)
    assert list(Subscription.objects.values_list("contact__phone", "list__name")) == [("+12025550143", "Flash")]

    again = operator_client.post(reverse("admin:transfers_importjob_confirm", args=[job.pk]), follow=True)

    assert "not waiting for confirmation" in again.content.decode()
    assert Subscription.objects.count() == 1
    assert "Confirm import" not in job_page(operator_client, job).content.decode()


def test_the_jobs_list_offers_import_and_exports_to_an_operator(operator_client):
    page = operator_client.get(reverse("admin:transfers_importjob_changelist")).content.decode()

    assert reverse("admin:transfers_importjob_import") in page
    assert reverse("admin:transfers_importjob_export", args=["subscriptions"]) in page


def test_a_viewer_sees_jobs_but_cannot_import_confirm_or_export_numbers(client, staff, operator_client, flash):
    _, job = upload(operator_client, "subscriptions", FILE)
    client.force_login(staff("Viewer"))

    listing = client.get(reverse("admin:transfers_importjob_changelist"))
    assert listing.status_code == 200
    assert reverse("admin:transfers_importjob_import") not in listing.content.decode()
    assert "Confirm import" not in job_page(client, job).content.decode()
    assert client.get(reverse("admin:transfers_importjob_import")).status_code == 403
    assert upload(client, "subscriptions", FILE)[0].status_code == 403
    assert client.post(reverse("admin:transfers_importjob_confirm", args=[job.pk])).status_code == 403
    assert client.get(reverse("admin:transfers_importjob_export", args=["subscriptions"])).status_code == 403
    assert client.get(reverse("admin:transfers_importjob_export", args=["deactivation_reports"])).status_code == 200
    assert Subscription.objects.count() == 0


def test_strangers_are_sent_to_the_login_page(client, flash):
    for url in (reverse("admin:transfers_importjob_import"),
                reverse("admin:transfers_importjob_export", args=["contacts"])):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert upload(client, "subscriptions", FILE)[1] is None


def test_admin_imports_too(client, staff, flash):
    client.force_login(staff("Admin"))
    _, job = upload(client, "subscriptions", FILE)
    assert job.status == ImportJob.Status.PREVIEWED


def test_a_big_file_is_previewed_and_applied_by_the_task_with_progress(
    operator_client, flash, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "LARGE_ROWS", 1)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        _, job = upload(operator_client, "subscriptions", FILE)
    job.refresh_from_db()
    assert (len(queued), job.in_background, job.status, job.rows_done) == (1, True, ImportJob.Status.PREVIEWED, 2)
    assert Subscription.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True) as queued:
        operator_client.post(reverse("admin:transfers_importjob_confirm", args=[job.pk]))

    job.refresh_from_db()
    assert (len(queued), job.status, job.result["created"]) == (1, ImportJob.Status.APPLIED, 1)
    assert Subscription.objects.count() == 1


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_exports_stream_escaped_cells_and_keep_e164_numbers(operator_client, flash):
    contact = ContactFactory(phone="+12025550143", email="=cmd|' /C calc'!A0@example.com")
    SubscriptionFactory(contact=contact, list=flash, opted_in_at=at("2026-01-01"))

    response = operator_client.get(reverse("admin:transfers_importjob_export", args=["subscriptions"]))

    assert response.streaming
    rows = read_csv(response)
    assert rows[0][:6] == ["phone", "sender_code", "list", "opted_in_at", "email", "carrier"]
    assert rows[1][:5] == [
        "+12025550143",
        "45678",
        "Flash",
        "2026-01-01T00:00:00+00:00",
        "'=cmd|' /C calc'!A0@example.com",
    ]
    contacts = read_csv(operator_client.get(reverse("admin:transfers_importjob_export", args=["contacts"])))
    assert contacts[1][:2] == ["+12025550143", "'=cmd|' /C calc'!A0@example.com"]


@pytest.mark.parametrize(
    "value, shown",
    [("=1+2", "'=1+2"), ("+1+2", "'+1+2"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
     ("\r=1", "'\r=1"), ("  =1", "'  =1"), ("\uff1d1+2", "'\uff1d1+2"), ("+12025550143", "+12025550143"),
     ("+1 202 555 0143", "'+1 202 555 0143"), ("Flash", "Flash"), (None, ""), (5, "5")],
)  # fmt: skip
def test_escape_cell_leaves_no_formula_and_no_number_changed(value, shown):
    assert escape_cell(value) == shown


def test_export_command_writes_only_data(flash, capsys):
    from django.core.management import call_command

    SubscriptionFactory(contact=ContactFactory(phone="+12025550143"), list=flash, opted_in_at=at("2026-01-01"))
    call_command("export_csv", "subscriptions", "--sender-code", "45678")
    out, err = capsys.readouterr()
    assert out.splitlines()[1].startswith("+12025550143,45678,Flash,2026-01-01T00:00:00+00:00")
    assert err.strip() == "exported=1"
    assert Contact.objects.count() == 1


def test_report_summaries_export_their_counts(client, staff):
    DeactivationReport.objects.create(origin="upload", fingerprint="f1", file_name="=evil.csv", rows=10, opted_out=3)
    client.force_login(staff("Viewer"))

    rows = read_csv(client.get(reverse("admin:transfers_importjob_export", args=["deactivation_reports"])))

    header = dict(zip(rows[0], rows[1]))
    assert (header["file_name"], header["rows"], header["opted_out"], header["status"]) == ("'=evil.csv", "10", "3",
                                                                                           "pending")  # fmt: skip


# --- who may create sender codes and lists through an import (issue 13, point 1) ---

NEW_CODES = (SUBSCRIPTIONS_HEADER + "+12025550143,99999,Promo,2026-01-01,,\n"
             + "+12025550144,45678,News,2026-01-01,,\n").encode()  # fmt: skip


def test_an_operator_is_not_offered_creating_codes_and_lists_and_such_rows_are_refused(operator_client, flash):
    # The Operator group may not add sender codes or lists in the admin (R12), so not through an import either:
    # the option is not on the form, and posting it anyway changes nothing.
    form = operator_client.get(reverse("admin:transfers_importjob_import")).content.decode()
    assert 'name="create_lists"' not in form

    _, job = upload(operator_client, "subscriptions", NEW_CODES, create_lists=True)
    operator_client.post(reverse("admin:transfers_importjob_confirm", args=[job.pk]))

    job.refresh_from_db()
    assert job.create_lists is False
    assert [s["reason"] for s in job.samples] == [
        "unknown sender code '99999'",
        "unknown list 'News' of sender code '45678'",
    ]
    assert (job.status, job.result["created"], job.result["invalid"]) == (ImportJob.Status.APPLIED, 0, 2)
    assert list(SenderCode.objects.values_list("code", flat=True)) == ["45678"]
    assert list(SubscriberList.objects.values_list("name", flat=True)) == ["Flash"]


def test_staff_who_may_add_codes_and_lists_create_them_through_an_import(client, staff, flash):
    client.force_login(staff("Admin"))
    assert 'name="create_lists"' in client.get(reverse("admin:transfers_importjob_import")).content.decode()

    _, job = upload(client, "subscriptions", NEW_CODES, create_lists=True)
    client.post(reverse("admin:transfers_importjob_confirm", args=[job.pk]))

    job.refresh_from_db()
    assert (job.create_lists, job.result["created"], job.result["invalid"]) == (True, 2, 0)
    assert sorted(SubscriberList.objects.values_list("sender_code__code", "name")) == [
        ("45678", "Flash"), ("45678", "News"), ("99999", "Promo")
    ]  # fmt: skip


def test_a_job_asking_to_create_lists_for_an_operator_still_creates_none(staff, flash):
    # However the flag got onto the job (an old row, a permission withdrawn since), the import checks its
    # creator's permissions when it runs, not only the form's.
    job = services.start_import(kind="subscriptions", upload=SimpleUploadedFile("f.csv", NEW_CODES),
                                user=staff("Operator"))  # fmt: skip
    ImportJob.objects.filter(pk=job.pk).update(create_lists=True, status=ImportJob.Status.CONFIRMED)

    services.apply(job.pk)

    job.refresh_from_db()
    assert (job.status, job.result["invalid"]) == (ImportJob.Status.APPLIED, 2)
    assert list(SenderCode.objects.values_list("code", flat=True)) == ["45678"]
