"""Issue 13 (4): no full phone number in a message built from file content — a bad file's echoed first line,
a row's reason quoting a raw value or an unknown (long) sender code, a failed job's stored error — whether it
reaches the operator's terminal, the log, the stored job or report, or an API answer. Each number is masked
as the report samples are: every digit but the country code's first and the last four (R12)."""

import io
import logging
from datetime import date

import pytest

from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from reports import services
from reports.models import Channel, DeactivationReport
from reports.notices import NoticeIntake
from reports.receipts import ReceiptIntake
from tests.factories import SenderCodeFactory, SubscriberListFactory, SubscriptionFactory
from tests.reports.builders import upload
from tests.support.phone_scan import leaks
from transfers.models import ImportJob
from transfers.resources import OptOutImport

pytestmark = pytest.mark.django_db

NUMBER = "+12025550109"
MASKED = "+1******0109"
ROW = f"{NUMBER},45678,Alerts,2026-01-02"


@pytest.fixture(autouse=True)
def _uploads_in_shared_media_root(settings, shared_media_root):
    settings.MEDIA_ROOT = str(shared_media_root)


@pytest.fixture
def alerts():
    return SubscriberListFactory(sender_code=SenderCodeFactory(code="45678"), name="Alerts")


def assert_masked(*texts: str) -> None:
    text = "\n".join(texts)
    assert MASKED in text
    assert not leaks(text, [NUMBER]), text


def test_a_csv_without_its_header_is_refused_echoing_its_first_line_masked(tmp_path, caplog, alerts):
    path = tmp_path / "subscriptions.csv"
    path.write_text(ROW + "\n")
    caplog.set_level(logging.INFO)
    with pytest.raises(CommandError) as refused:
        call_command("import_subscriptions", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert "header must be" in str(refused.value)
    assert_masked(str(refused.value), caplog.text)


def test_the_admin_import_of_such_a_file_stores_its_error_masked(client, caplog, alerts):
    operator = User.objects.create_user("operator", password="x", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    client.force_login(operator)
    caplog.set_level(logging.INFO)
    file = SimpleUploadedFile("subscriptions.csv", (ROW + "\n").encode(), "text/csv")
    client.post(reverse("admin:transfers_importjob_import"), {"kind": "subscriptions", "file": file})
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    page = client.get(reverse("admin:transfers_importjob_change", args=[job.pk])).content.decode()
    assert_masked(job.error, caplog.text)
    assert not leaks(page, [NUMBER])


def test_subscription_rows_quote_raw_values_masked(tmp_path, alerts):
    path = tmp_path / "subscriptions.csv"
    path.write_text(
        "phone,sender_code,list,opted_in_at,email,carrier\n"
        f"+12025550143,{NUMBER},Alerts,2026-01-02,,\n"
        f"+12025550144,45678,{NUMBER},2026-01-02,,\n"
        f"+12025550145,45678,Alerts,{NUMBER},,\n"
        f"+12025550146,45678,Alerts,2026-01-02,,{NUMBER}\n"
    )
    err = io.StringIO()
    call_command("import_subscriptions", str(path), stdout=io.StringIO(), stderr=err)
    lines = err.getvalue().splitlines()
    assert len(lines) == 4
    for line in lines:
        assert_masked(line)


def test_receipt_and_notice_reasons_quote_raw_values_masked():
    sub = SubscriptionFactory()
    good = {"phone": sub.contact.phone, "sender_code": sub.list.sender_code.code, "error_code": 629,
            "occurred_at": "2026-11-20T10:00:00Z"}  # fmt: skip
    receipts = ReceiptIntake(channel=Channel.API).ingest_items(
        [
            {**good, "sender_code": NUMBER},
            {**good, "error_code": NUMBER},
            {**good, "occurred_at": NUMBER},
            {**good, "carrier": NUMBER},
        ]  # fmt: skip
    )
    notice = {"phone": sub.contact.phone, "carrier": "Verizon", "event": "suspended", "occurred_at": "2026-11-20"}
    notices = NoticeIntake(channel=Channel.API).ingest_items(
        [{**notice, "event": NUMBER}, {**notice, "carrier": NUMBER}]
    )
    reasons = [item["reason"] for item in receipts.items + notices.items]
    assert len(reasons) == 6
    for reason in reasons:
        assert_masked(reason)


def test_operator_opt_out_rows_quote_raw_values_masked(alerts):
    user = User.objects.create_user("operator", password="x", is_staff=True)
    file = io.BytesIO(
        "phone,sender_code,reason,occurred_at\n"
        f"+12025550143,{NUMBER},,2026-02-01\n+12025550144,45678,{NUMBER},2026-02-01\n"
        f"+12025550145,45678,,{NUMBER}\n".encode()
    )
    summary = OptOutImport(user=user).run(file, dry_run=True)
    assert len(summary.samples) == 3
    for sample in summary.samples:
        assert_masked(sample["reason"])


def test_a_report_whose_header_holds_a_number_is_refused_with_it_masked():
    report = upload(f"name,ref {NUMBER[2:]}x\nAda,Lovelace\nBob,Babbage\n".encode(), report_date=date(2026, 11, 20))
    with pytest.raises(services.ReportFailed):
        services.ingest(report)
    report.refresh_from_db()
    assert report.status == DeactivationReport.Status.FAILED
    assert "no phone number column" in report.error
    assert "***0109" in report.error and not leaks(report.error, [NUMBER])


def test_dates_and_short_codes_stay_readable():
    """Masking keeps what cannot be a whole number: an operator still sees which code or date was wrong."""
    sub = SubscriptionFactory()
    good = {"phone": sub.contact.phone, "sender_code": sub.list.sender_code.code, "error_code": 629,
            "occurred_at": "2026-11-20T10:00:00Z"}  # fmt: skip
    items = [{**good, "occurred_at": "2026-13-45T10:00:00Z"}, {**good, "sender_code": "99999"}]
    reasons = [item["reason"] for item in ReceiptIntake(channel=Channel.API).ingest_items(items).items]
    assert reasons == [
        "occurred_at is not an ISO-8601 timestamp: '2026-13-45T10:00:00Z'",
        "unknown sender code '99999'",
    ]
