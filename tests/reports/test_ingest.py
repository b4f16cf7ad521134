"""Deactivation reports through the whole pipeline: S3 or upload, parse, stage, match, opt out (R1, R3, R6, R8)."""

import gzip
import io
import zipfile
from datetime import timedelta

import psycopg
import pytest

from django.db import connection

from contacts.models import OptOutEvent, Reason, Source, Subscription
from reports import s3, services
from reports.models import DeactivationReport
from tests.conftest import database_url_for_subprocess
from tests.reports.builders import (
    DAY,
    LATEST_KEY,
    TODAY,
    A,
    B,
    C,
    at,
    dated_key,
    numbers,
    opted_out,
    report_csv,
    snapshot,
    subscribe_many,
    subscribed,
    upload,
)
from tests.s3_endpoint import Fault

pytestmark = pytest.mark.django_db


# --- From S3 (R6: one file, one report, whatever its name) ---


def test_r6_latest_resolves_to_its_dated_report_which_is_then_a_no_op(s3_reports):
    sub = subscribed(A)
    body = report_csv((A, DAY))
    s3_reports.put(dated_key(DAY), body)
    s3_reports.put(LATEST_KEY, body)

    first = services.fetch_latest()
    second = services.fetch_dated(DAY)

    assert first.applied and not second.applied
    assert second.message == services.ALREADY_APPLIED
    assert first.report.pk == second.report.pk
    report = DeactivationReport.objects.get()
    assert (report.key, report.report_date, report.status) == (dated_key(DAY), DAY, DeactivationReport.Status.SUCCEEDED)
    assert (report.rows, report.valid, report.matched_contacts, report.opted_out) == (1, 1, 1, 1)
    assert report.bytes_read == report.size == len(body)
    assert opted_out(sub) == [True]
    event = OptOutEvent.objects.get()
    assert (event.reason, event.source, event.occurred_at, event.ref) == (
        Reason.DEACTIVATED,
        Source.DEACTIVATION_REPORT,
        at(DAY),
        report,
    )


def test_r6_the_same_file_under_two_dated_keys_is_one_report(s3_reports):
    subscribed(A)
    body = report_csv((A, DAY))
    s3_reports.put(dated_key(DAY), body)
    s3_reports.put(dated_key(DAY + timedelta(days=1)), body)

    results = list(services.backfill())

    assert [result.applied for result in results] == [True, False]
    assert DeactivationReport.objects.count() == 1
    assert OptOutEvent.objects.count() == 1


def test_every_request_of_an_ingest_accepts_the_requester_pays_charge(s3_reports):
    subscribed(A)
    s3_reports.put(dated_key(DAY - timedelta(days=1)), report_csv((B, DAY - timedelta(days=1))))
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    s3_reports.put(LATEST_KEY, report_csv((A, DAY)))

    services.fetch_latest()
    list(services.backfill())

    operations = {request.operation for request in s3_reports.requests}
    assert {"ListObjectsV2", "HeadObject", "GetObject"} <= operations
    assert all(request.headers.get("x-amz-request-payer") == "requester" for request in s3_reports.requests)
    assert all(request.status == 200 for request in s3_reports.requests)


def test_backfill_applies_the_last_90_days_oldest_first_and_skips_the_rest(s3_reports):
    sub = subscribed(A, opted_in=TODAY - timedelta(days=200))
    other = subscribed(B, opted_in=TODAY - timedelta(days=200))
    too_old, oldest, applied_before, newest = (TODAY - timedelta(days=n) for n in (91, 90, 20, 5))
    s3_reports.put(dated_key(too_old), report_csv((B, too_old)))
    s3_reports.put(dated_key(oldest), report_csv((A, oldest)))
    s3_reports.put(dated_key(applied_before), report_csv((C, applied_before)))
    s3_reports.put(dated_key(newest), report_csv((A, newest)))
    services.fetch_dated(applied_before)

    results = list(services.backfill())
    again = list(services.backfill())

    assert [(r.report.report_date, r.applied, r.message) for r in results] == [
        (oldest, True, services.APPLIED),
        (applied_before, False, services.ALREADY_APPLIED),
        (newest, True, services.APPLIED),
    ]
    assert results[0].report.started_at < results[2].report.started_at
    assert not any(result.applied for result in again)
    assert not DeactivationReport.objects.filter(report_date=too_old).exists()
    # Oldest first: the number left on the oldest report's date, the newer report found it already out.
    assert opted_out(sub, other) == [True, False]
    assert sub.opted_out_at == at(oldest)
    assert DeactivationReport.objects.get(report_date=newest).already_opted_out == 1


def test_backfill_goes_on_past_a_report_that_fails(s3_reports):
    sub = subscribed(A)
    s3_reports.put(dated_key(DAY - timedelta(days=1)), b"<html><body>503 Service Unavailable</body></html>")
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))

    results = list(services.backfill())

    assert [r.report.status for r in results] == [DeactivationReport.Status.FAILED, DeactivationReport.Status.SUCCEEDED]
    assert "HTML" in results[0].message
    assert opted_out(sub) == [True]


def test_missing_dated_report_leaves_a_row_saying_not_published_until_it_is(s3_reports):
    sub = subscribed(A)

    with pytest.raises(s3.ReportNotPublished):
        services.fetch_dated(DAY)

    waiting = DeactivationReport.objects.get()
    assert (waiting.key, waiting.report_date, waiting.status) == (
        dated_key(DAY),
        DAY,
        DeactivationReport.Status.PENDING,
    )
    assert "not published" in waiting.error

    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    result = services.fetch_dated(DAY)

    assert result.applied
    assert list(DeactivationReport.objects.values_list("key", "status")) == [
        (dated_key(DAY), DeactivationReport.Status.SUCCEEDED)
    ]
    assert opted_out(sub) == [True]


def test_missing_latest_never_falls_back_to_a_dated_report(s3_reports):
    sub = subscribed(A)
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    before = snapshot()

    with pytest.raises(s3.ReportNotPublished):
        services.fetch_latest()

    assert snapshot() == before
    assert opted_out(sub) == [False]
    waiting = DeactivationReport.objects.get()
    assert (waiting.key, waiting.status) == (LATEST_KEY, DeactivationReport.Status.PENDING)
    assert not [r for r in s3_reports.requests if r.operation == "GetObject"]


def test_latest_published_later_replaces_its_not_published_row(s3_reports):
    with pytest.raises(s3.ReportNotPublished):
        services.fetch_latest()
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    s3_reports.put(LATEST_KEY, report_csv((A, DAY)))

    services.fetch_latest()

    assert list(DeactivationReport.objects.values_list("key", "status")) == [
        (dated_key(DAY), DeactivationReport.Status.SUCCEEDED)
    ]


def test_access_denied_on_the_file_fails_the_report_with_that_message(s3_reports):
    sub = subscribed(A)
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    s3_reports.proxy.fault = lambda request: Fault(403, "AccessDenied") if request.operation == "GetObject" else None

    with pytest.raises(services.ReportFailed, match=r"denied \(AccessDenied\)"):
        services.fetch_dated(DAY)

    report = DeactivationReport.objects.get()
    assert report.status == DeactivationReport.Status.FAILED
    assert f"access to s3://{s3_reports.bucket}/{dated_key(DAY)} denied (AccessDenied)" in report.error
    assert report.finished_at is not None
    assert opted_out(sub) == [False]
    # S3's 403 is final: neither botocore nor we asked again.
    assert [r.operation for r in s3_reports.requests].count("GetObject") == 1


def test_access_denied_listing_leaves_a_failed_row(s3_reports):
    s3_reports.proxy.fault = lambda request: Fault(403, "AccessDenied")

    with pytest.raises(s3.ReportAccessDenied):
        services.fetch_latest()

    report = DeactivationReport.objects.get()
    assert (report.key, report.status) == (LATEST_KEY, DeactivationReport.Status.FAILED)
    assert "denied (AccessDenied)" in report.error


# --- File shapes through the whole pipeline (R8, R11) ---


def zipped(name: str, body: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, body)
    return buffer.getvalue()


EARLIER = DAY - timedelta(days=1)
AWS_LIKE = f"Phone Number,Deactivation Date\n(202) 555-0143,{DAY}\n+1 202-555-0144,{EARLIER}T22:15:00Z\n".encode()
TWILIO = b"12025550143\n+12025550144\n"
MSISDN = (
    "\ufeffMSISDN,COUNTRY,EVENT_TYPE,DEACTIVATION_DATE,CARRIER_NAME\r\n"
    f"12025550143,US,DEACTIVATION,{DAY},Verizon\r\n"
    f'"12025550144","US","DEACTIVATION","{EARLIER}","AT&T, Inc."\r\n'
).encode()
FORMATS = {
    "aws-like header with dates": (AWS_LIKE, None, [DAY, EARLIER]),
    "twilio one number a line": (TWILIO, DAY, [DAY, DAY]),
    "msisdn csv with bom and crlf": (MSISDN, None, [DAY, EARLIER]),
    "gzip": (gzip.compress(AWS_LIKE), None, [DAY, EARLIER]),
    "zip": (zipped("deact.csv", MSISDN), None, [DAY, EARLIER]),
}


@pytest.mark.parametrize("body, report_date, days", FORMATS.values(), ids=FORMATS.keys())
def test_r8_every_file_shape_opts_out_on_each_rows_date(body, report_date, days):
    subs = [subscribed(A), subscribed(B)]

    result = services.ingest(upload(body, report_date=report_date))

    assert result.applied
    assert (result.report.rows, result.report.valid, result.report.invalid, result.report.opted_out) == (2, 2, 0, 2)
    assert result.report.bytes_read == len(body)
    assert opted_out(*subs) == [True, True]
    assert [sub.opted_out_at for sub in subs] == [at(day) for day in days]


def test_gzip_report_from_s3_is_read_as_a_stream(s3_reports):
    sub = subscribed(A)
    body = gzip.compress(report_csv((A, DAY)) + b"".join(f"+1212600{n:04d},{DAY}\n".encode() for n in range(3000)))
    s3_reports.put(dated_key(DAY), body)

    result = services.fetch_dated(DAY)

    assert (result.report.rows, result.report.valid, result.report.opted_out) == (3001, 3001, 1)
    assert result.report.bytes_read == len(body)
    assert opted_out(sub) == [True]


def test_twilio_file_without_a_report_date_fails_and_says_to_give_one():
    sub = subscribed(A)

    with pytest.raises(services.ReportFailed, match="give the report date"):
        services.ingest(upload(TWILIO))

    assert opted_out(sub) == [False]
    # The operator retries with the date: the same file is the same report, now dated.
    result = services.ingest(upload(TWILIO, report_date=DAY))
    assert result.applied
    assert DeactivationReport.objects.count() == 1
    assert opted_out(sub) == [True]


NOT_REPORTS = {
    "binary": (bytes(range(256)) * 64, "binary"),
    "html error page": (b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head></html>\n", "HTML"),
    "empty": (b"", "empty"),
    "blank lines": (b"\n\r\n  \n", "empty"),
    "no phone column": (b"name,email,signed_up\nAda,ada@example.com,2026-01-02\nBob,bob@example.com,2026-01-03\n",
                        "no phone number column"),
}  # fmt: skip


@pytest.mark.parametrize("body, reason", NOT_REPORTS.values(), ids=NOT_REPORTS.keys())
def test_r8_a_file_that_is_not_a_report_fails_whole_and_changes_nothing(body, reason):
    subscribed(A)
    before = snapshot()

    with pytest.raises(services.ReportFailed, match=reason):
        services.ingest(upload(body, report_date=DAY))

    report = DeactivationReport.objects.get()
    assert report.status == DeactivationReport.Status.FAILED
    assert reason in report.error
    assert (report.rows, report.valid, report.opted_out) == (0, 0, 0)
    assert snapshot() == before


def test_r8_bad_rows_are_counted_and_sampled_and_the_good_rows_apply():
    subs = [subscribed(A), subscribed(B), subscribed(C)]
    body = (
        "phone,date\n"  # line 1
        f"{A},{DAY}\n"  # 2: good
        f"12345,{DAY}\n"  # 3: too short
        "\n"  # 4: blank, not a row
        f"+442071838750,{DAY}\n"  # 5: not a US number
        f"{B},{TODAY + timedelta(days=2)}\n"  # 6: in the future
        f"{C},someday\n"  # 7: unreadable date
        f"{A},{DAY}\n"  # 8: duplicate of line 2
        f"{'9' * 5000},{DAY}\n"  # 9: a hostile, huge line
        + "".join(f"+1202555015{i},{DAY}\n" for i in range(4))  # 10-13: good, on no list: a mostly good file
    ).encode()

    result = services.ingest(upload(body))

    report = result.report
    assert result.applied
    counts = (report.rows, report.valid, report.invalid, report.future, report.duplicates, report.opted_out)
    assert counts == (11, 6, 5, 1, 1, 1)
    assert [sample["line"] for sample in report.invalid_samples] == [3, 5, 6, 7, 9]
    assert report.invalid_samples[2]["reason"] == "date in the future"
    assert report.invalid_samples[3]["reason"] == "unreadable date"
    assert "2071838750" not in str(report.invalid_samples)  # numbers are masked (R12)
    assert opted_out(*subs) == [True, False, False]


# --- The rules on the report's counts (R3, R6) ---


def test_r3_deactivation_before_the_latest_opt_in_is_counted_stale():
    recycled = subscribed(A, opted_in=DAY + timedelta(days=1))  # the number's new owner opted in after
    gone = subscribed(B, opted_in=DAY - timedelta(days=10))

    report = services.ingest(upload(report_csv((A, DAY), (B, DAY)))).report

    assert (report.matched_contacts, report.opted_out, report.stale) == (2, 1, 1)
    assert opted_out(recycled, gone) == [False, True]


def test_r7_every_event_names_its_subscriptions_code_and_the_report_without_database_checks():
    # The events' sender code and carrying record's type have no database constraint (checked by
    # construction, issue 14): every reference the service writes must still exist and be the right one.
    phones = list(numbers(6))
    subscribe_many(phones, lists=3)
    subscribed(A)

    report = services.ingest(upload(report_csv(*((phone, DAY) for phone in phones[:4]), (A, DAY)))).report

    assert (report.opted_out, OptOutEvent.objects.count()) == (13, 13)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT COUNT(*) FROM contacts_optoutevent e
            LEFT JOIN contacts_sendercode c ON c.id = e.sender_code_id
            LEFT JOIN django_content_type t ON t.id = e.ref_type_id
            LEFT JOIN contacts_contact p ON p.id = e.contact_id
            WHERE c.id IS NULL OR t.id IS NULL OR p.id IS NULL
            """
        )
        assert cursor.fetchone()[0] == 0
    for sub in Subscription.objects.filter(status=Subscription.Status.OPTED_OUT).select_related(
        "opt_out_event", "list"
    ):
        event = sub.opt_out_event
        assert (event.contact_id, event.sender_code_id, event.ref) == (sub.contact_id, sub.list.sender_code_id, report)


def test_r6_the_same_file_uploaded_twice_is_applied_once():
    sub = subscribed(A)
    body = report_csv((A, DAY))

    first = services.ingest(upload(body, name="monday.csv"))
    second = services.ingest(upload(body, name="monday-again.csv"))

    assert (first.applied, second.applied) == (True, False)
    assert second.message == services.ALREADY_APPLIED
    assert first.report.pk == second.report.pk
    assert second.counts() == first.counts()
    assert OptOutEvent.objects.count() == 1
    assert opted_out(sub) == [True]


def test_r6_the_same_report_from_s3_and_by_upload_is_not_applied_twice(s3_reports):
    sub = subscribed(A)
    body = report_csv((A, DAY))
    s3_reports.put(dated_key(DAY), body)

    services.fetch_dated(DAY)
    second = services.ingest(upload(body))

    assert second.applied  # a second report row, by content hash…
    assert (second.report.opted_out, second.report.already_opted_out) == (0, 1)  # …that changes nothing
    assert OptOutEvent.objects.count() == 1
    assert opted_out(sub) == [True]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the other connection sees committed rows only
def test_r6_a_report_another_worker_holds_is_left_to_it(postgres):
    sub = subscribed(A)
    report = upload(report_csv((A, DAY)))

    # Another worker's ingest transaction: it holds the report's row until it commits.
    with psycopg.connect(database_url_for_subprocess()) as other:
        other.execute("SELECT id FROM reports_deactivationreport WHERE id = %s FOR UPDATE", [report.pk])
        held = services.ingest(report)
    after = services.ingest(report)

    assert (held.applied, held.message) == (False, services.BUSY)
    assert after.applied
    assert OptOutEvent.objects.count() == 1
    assert opted_out(sub) == [True]


def test_no_aws_credentials_is_a_failed_row_not_a_crash(s3_reports, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    # Nowhere else to find any: no files, no instance metadata service.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(s3.ReportAccessDenied, match="no AWS credentials"):
        services.fetch_dated(DAY)

    report = DeactivationReport.objects.get()
    assert (report.key, report.status) == (dated_key(DAY), DeactivationReport.Status.FAILED)
    assert s3_reports.requests == []
