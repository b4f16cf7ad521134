"""django-import-export's own admin flow on the model admins: its import page → preview → process_import, with our
counts and named rows (R8), big files handed to a worker (R10), and its buttons only for those allowed (R12)."""

import csv
import io
import re
import tempfile
import uuid
from pathlib import Path

import pytest

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from contacts.models import Contact, OptOutEvent, Reason, Source, Subscription
from contacts.services import opt_out
from tests.factories import ContactFactory, SubscriberListFactory, SubscriptionFactory, at
from tests.transfers.conftest import SUBSCRIPTIONS_HEADER
from transfers import services
from transfers.admin_mixins import PendingImportStorage
from transfers.models import ImportJob

pytestmark = pytest.mark.django_db
IMPORT = reverse("admin:contacts_subscription_import")
PROCESS = reverse("admin:contacts_subscription_process_import")
EXPORT = reverse("admin:contacts_subscription_export")
REFUSED = "+12025550144"  # opted out for deactivation after the consent the file carries (R3/R4)
FILE = (
    SUBSCRIPTIONS_HEADER
    + "+12025550143,45678,Flash,2026-01-01,,\n"
    + "not a number,45678,Flash,2026-01-01,,\n"
    + f"{REFUSED},45678,Flash,2026-02-01,,\n"
).encode()


def choose(client, content: bytes, url: str = IMPORT):
    """The library's first step: a file and its format (the only one, CSV), for the admin's one resource."""
    return client.post(url, {"resource": "0", "format": "0", "import_file": SimpleUploadedFile("list.csv", content)})


def deactivated(flash) -> None:
    SubscriptionFactory(contact__phone=REFUSED, list=flash, opted_in_at=at("2026-01-01"))
    opt_out(number=REFUSED, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT, occurred_at=at("2026-03-01"))


def test_operator_previews_counts_and_named_rows_then_confirms_the_good_rows(operator_client, flash):
    deactivated(flash)

    preview = choose(operator_client, FILE)

    page = preview.content.decode()
    assert preview.status_code == 200 and "Preview: what confirming will do" in page
    # rows, created, updated, skipped, invalid
    assert "<td>3</td><td>1</td><td>0</td><td>0</td><td>2</td>" in re.sub(r">\s+<", "><", page)
    assert "<td>3</td><td>invalid phone number: not a phone number</td>" in page
    assert "<td>4</td><td>opted out (deactivated) after this consent; a newer opt-in is needed</td>" in page
    assert 'name="confirm"' in page
    assert Contact.objects.filter(phone="+12025550143").count() == 0  # the preview was rolled back

    confirm_form = preview.context["confirm_form"]
    done = operator_client.post(
        PROCESS, {name: confirm_form.initial[name] for name in confirm_form.fields}, follow=True
    )

    assert done.redirect_chain[-1][0] == reverse("admin:contacts_subscription_changelist")
    assert ("Import finished: 1 created, 0 updated, 0 skipped, 2 invalid. Not imported: line 3: invalid phone "
            "number: not a phone number; line 4: opted out (deactivated)") in done.content.decode()  # fmt: skip
    opted_in = Subscription.objects.filter(status=Subscription.Status.OPTED_IN)
    assert list(opted_in.values_list("contact__phone", flat=True)) == ["+12025550143"]


def test_a_file_that_is_not_a_subscriptions_file_offers_no_confirm(operator_client, flash):
    for content in (b"msisdn;when\n+12025550143;2026-01-01\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"):
        response = choose(operator_client, content)

        assert "Nothing can be imported from this file" in response.content.decode()
        assert "confirm_form" not in response.context
    assert Contact.objects.count() == 0


def test_a_file_over_the_admin_threshold_becomes_a_job_for_a_worker(
    operator_client, flash, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "LARGE_ROWS", 2)

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = choose(operator_client, FILE)

    job = ImportJob.objects.get()
    assert response["Location"] == reverse("admin:transfers_importjob_change", args=[job.pk])
    assert (len(queued), job.in_background, job.rows_total, job.kind) == (1, True, 3, "subscriptions")
    job.refresh_from_db()
    assert (job.status, job.preview["created"], job.preview["invalid"]) == (ImportJob.Status.PREVIEWED, 2, 1)
    assert Contact.objects.count() == 0  # previewed by the worker; the operator confirms on the job's page


def test_each_import_admin_offers_the_library_page_with_its_columns(operator_client):
    for name, columns in [
        ("contacts_subscription", "phone,sender_code,list,opted_in_at[,email,carrier]"),
        ("contacts_optoutevent", "phone,sender_code,occurred_at[,reason]"),
        ("reports_deliveryreceipt", "phone,sender_code,error_code,occurred_at[,carrier,message_id]"),
        ("reports_carriernotice", "phone,carrier,event,occurred_at"),
    ]:
        listing = operator_client.get(reverse(f"admin:{name}_changelist")).content.decode()
        assert reverse(f"admin:{name}_import") in listing
        page = operator_client.get(reverse(f"admin:{name}_import"))
        assert page.status_code == 200 and f"<code>{columns}</code>" in page.content.decode()


def test_a_manual_opt_out_import_names_the_operator(operator_client, flash):
    SubscriptionFactory(contact__phone="+12025550143", list=flash, opted_in_at=at("2026-01-01"))
    url = reverse("admin:contacts_optoutevent_import")
    preview = choose(operator_client, b"phone,sender_code,occurred_at\n+12025550143,45678,2026-02-01T00:00:00Z\n", url)
    form = preview.context["confirm_form"]

    operator_client.post(
        reverse("admin:contacts_optoutevent_process_import"), {n: form.initial[n] for n in form.fields}
    )

    event = OptOutEvent.objects.get()
    assert (event.reason, event.source, event.ref) == (Reason.OPERATOR, Source.IMPORT, preview.wsgi_request.user)


def test_viewers_and_strangers_cannot_import(client, staff, flash):
    for url in (IMPORT, reverse("admin:reports_carriernotice_import")):
        assert client.get(url).status_code == 302  # to the login page
    assert choose(client, FILE).status_code == 302

    client.force_login(staff("Viewer"))

    assert (
        reverse("admin:contacts_subscription_import")
        not in client.get(reverse("admin:contacts_subscription_changelist")).content.decode()
    )
    assert client.get(IMPORT).status_code == 403
    assert choose(client, FILE).status_code == 403
    assert client.post(PROCESS, {"import_file_name": "x", "original_file_name": "x", "format": "0"}).status_code == 403
    assert client.get(reverse("admin:reports_deliveryreceipt_import")).status_code == 403
    assert Contact.objects.count() == 0


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_exports_stream_escaped_cells_of_the_filtered_list(operator_client, flash):
    other = SubscriberListFactory(sender_code=flash.sender_code, name="Other")
    contact = ContactFactory(phone="+12025550143", email="=cmd|' /C calc'!A0@example.com")
    SubscriptionFactory(contact=contact, list=flash, opted_in_at=at("2026-01-01"))
    SubscriptionFactory(contact__phone="+12025550150", list=other, opted_in_at=at("2026-01-01"))
    listing = operator_client.get(reverse("admin:contacts_subscription_changelist")).content.decode()
    assert EXPORT in listing

    response = operator_client.get(f"{EXPORT}?list__id__exact={flash.pk}")

    assert response.streaming
    exported = rows(response)
    assert [row[:5] for row in exported[1:]] == [  # the filtered list only; the email escaped, the number as it is
        ["+12025550143", "45678", "Flash", "2026-01-01T00:00:00+00:00", "'=cmd|' /C calc'!A0@example.com"]
    ]
    unknown = operator_client.get(f"{EXPORT}?no_such_filter=1")
    assert unknown["Location"] == reverse("admin:contacts_subscription_changelist") + "?e=1"
    contacts = rows(operator_client.get(reverse("admin:contacts_contact_export")))
    assert contacts[0][:2] == ["phone", "email"] and len(contacts) == 3


def test_raw_number_exports_need_their_permission(client, staff, flash):
    SubscriptionFactory(list=flash)
    client.force_login(staff("Viewer"))

    for name in ("contacts_contact", "contacts_subscription", "contacts_optoutevent"):
        assert reverse(f"admin:{name}_export") not in client.get(reverse(f"admin:{name}_changelist")).content.decode()
        assert client.get(reverse(f"admin:{name}_export")).status_code == 403
    reports = client.get(reverse("admin:reports_deactivationreport_export"))
    assert reports.status_code == 200 and rows(reports)[0][:3] == ["report_date", "origin", "key"]


# --- the confirm step's file name (issue 13, point 3) ---


def confirm_with(client, preview, name: str):
    """The library's confirm form as the preview rendered it, with its hidden file name replaced."""
    confirm_form = preview.context["confirm_form"]
    return client.post(PROCESS, {**{field: confirm_form.initial[field] for field in confirm_form.fields},
                                 "import_file_name": name})  # fmt: skip


@pytest.mark.parametrize("where", ["temp", "media"])
def test_a_crafted_file_name_at_confirm_is_refused_and_touches_no_file(operator_client, flash, settings, where):
    # The confirm step opened the posted name in the temp directory, imported it and deleted it: an Operator
    # could remove any file there. Now only a name this user's own preview was given is accepted.
    folder = Path(tempfile.gettempdir()) if where == "temp" else Path(settings.MEDIA_ROOT) / "django-import-export"
    folder.mkdir(parents=True, exist_ok=True)
    victim = folder / f"unrelated-{uuid.uuid4().hex}"
    victim.write_bytes(FILE)
    preview = choose(operator_client, FILE)

    for name in (victim.name, f"../{folder.name}/{victim.name}", str(victim)):
        assert confirm_with(operator_client, preview, name).status_code == 400

    assert victim.read_bytes() == FILE
    victim.unlink()
    assert Subscription.objects.count() == 0


def test_another_users_pending_import_cannot_be_confirmed_or_removed(operator_client, staff, flash):
    theirs = choose(operator_client, FILE)
    name = theirs.context["confirm_form"].initial["import_file_name"]
    admin = Client()
    admin.force_login(staff("Admin"))
    mine = choose(admin, SUBSCRIPTIONS_HEADER.encode() + b"+12025550145,45678,Flash,2026-01-01,,\n")

    assert confirm_with(admin, mine, name).status_code == 400

    assert Subscription.objects.count() == 0
    done = confirm_with(operator_client, theirs, name)  # the operator's own, still there
    assert done.status_code == 302
    assert sorted(Subscription.objects.values_list("contact__phone", flat=True)) == ["+12025550143", REFUSED]


@pytest.mark.parametrize("name", ["../../etc/passwd", "/tmp/x", "tmpab12cd34", "A" * 32, ""])
def test_the_pending_file_storage_opens_only_names_it_generates(name):
    with pytest.raises(SuspiciousFileOperation):
        PendingImportStorage(name=name)
    stored = PendingImportStorage(read_mode="rb")
    stored.save(b"phone\n")
    assert PendingImportStorage(name=stored.name).read() == b"phone\n"
    stored.remove()
