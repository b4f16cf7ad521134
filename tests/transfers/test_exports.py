"""Exports at database speed, never cut off (issue 20): PostgreSQL writes the CSV itself (COPY) with the same bytes
as the Python path, formula escaping included (R12); an export too big for a request becomes a job whose file is
the whole export, downloaded by staff who may have it, and deleted by retention."""

import csv
import io
import os
from datetime import UTC, date, datetime, timedelta

import pytest

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts.csvio import unescape_cell
from contacts.exports import Column, Export, OptedOutFilter, opted_out_export
from contacts.models import Contact, SavedFilter, SenderCode, Subscription
from reports.models import DeactivationReport
from tests.screens.conftest import opted_out_many, program, staff_in  # noqa: F401  (the small SMS program)
from transfers import retention
from transfers.models import ExportJob
from transfers.resources import EXPORTS

pytestmark = pytest.mark.django_db

# Cells a spreadsheet would run, cells CSV must quote, and the near misses of both.
HOSTILE = [
    "=1+1", "+1", "-5", "@SUM(A1)", "\tTAB", "\rCR", "\nLF", "|pipe", "%x", "\uff1dfull", "\uff0b", "\uff0d2",
    "\uff20at", "  =spaced", 'say "hi"', '"', "a,b", "line\nbreak", "cr\rlf", "\\.", " ", "+12025550143",
    "+12025550143\n", "+\u0661\u0662\u0660\u0662\u0665\u0665\u0665\u0660\u0661\u0664\u0663", "+1 (202) ***-0143",
    "+1 (202) ***-0143 ", "'=already", "trailing ", "\u00fcn\u00efc\u00f8d\u00e9", "x\\y", "",
    "+1234567", "+123456", "+123456789012345", "+1234567890123456", "+0123456789", " +12025550143",
]  # fmt: skip
STAMPS = [datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 10, 0, 1, 123456, tzinfo=UTC),
          datetime(2026, 11, 20, 10, 0, 2, 1, tzinfo=UTC)]  # fmt: skip


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def hostile_program(program):  # noqa: F811
    """The program with hostile text in every text column the exports write, and timestamps with and without
    microseconds."""
    for i, value in enumerate(HOSTILE):
        person = Contact.objects.create(phone=f"+1404555{i:04d}", email=value)
        Contact.objects.filter(pk=person.pk).update(created_at=STAMPS[i % 3])  # auto_now_add on create
    SenderCode.objects.filter(pk=program.short.pk).update(code="=HYPERLINK(1)")
    program.flash.__class__.objects.filter(pk=program.flash.pk).update(name='-2+3,"x"\nline')
    Subscription.objects.filter(status="opted_out").update(opted_out_at=STAMPS[1])
    DeactivationReport.objects.create(origin=DeactivationReport.Origin.UPLOAD, fingerprint="f" * 64,
                                      file_name="=cmd|' /C calc'!A0.csv", report_date=date(2026, 11, 20),
                                      started_at=STAMPS[2])  # fmt: skip


def test_the_database_writes_the_same_bytes_as_python_hostile_cells_included(program, postgres):  # noqa: F811
    hostile_program(program)
    exports = [resource().export() for resource in EXPORTS.values()]
    saved = SavedFilter.objects.create(name="Flash")
    saved.lists.set([program.flash, program.digest])
    exports += [opted_out_export(OptedOutFilter()), Export("audience", [Column("phone", "phone")], saved.numbers())]
    for export in exports:
        by_database = b"".join(export.stream(copy=True))
        by_python = b"".join(export.stream(copy=False))
        assert by_database == by_python, export.name
        assert by_database.count(b"\n") > 1, export.name
    contacts = cells(b"".join(EXPORTS["contacts"]().export().stream(copy=True)))
    emails = [row[1] for row in contacts[1:]]
    # Every hostile value came back as written, escaped where a spreadsheet would run it (R12).
    # ("'=already" reads back as "=already": an apostrophe before a formula is the escape, by design.)
    assert set(HOSTILE) - {"'=already"} <= set(map(unescape_cell, emails))
    assert "'=1+1" in emails and "'\tTAB" in emails and "'  =spaced" in emails and "+12025550143" in emails
    assert "'+12025550143\n" in emails  # a number with a newline after it is no number
    assert "'" + HOSTILE[23] in emails  # E.164 digits are ASCII ones
    assert {"+1234567", "'+123456", "+123456789012345", "'+1234567890123456", "'+0123456789"} <= set(emails)
    stamps = {row[3] for row in contacts[1:]}
    assert {
        "2026-11-20T10:00:00+00:00",
        "2026-11-20T10:00:01.123456+00:00",
        "2026-11-20T10:00:02.000001+00:00",
    } <= stamps


def test_the_opted_out_command_and_the_tab_download_are_one_export(program, client):  # noqa: F811
    out = io.StringIO()
    call_command("export_opted_out", "--sender-code", program.short.code, stdout=out, stderr=io.StringIO())
    client.force_login(staff_in("Operator"))
    response = client.get(reverse("admin:contacts_smscontact_export"), {"sender_code": program.short.code})
    command, download = cells(out.getvalue().encode()), cells(body(response))
    assert command[0] == download[0] == ["phone", "sender_code", "list", "reason", "source", "error_code",
                                         "occurred_at"]  # fmt: skip
    assert len(command) == 4 and command[1:] == download[:0:-1]  # the command oldest first, the tab newest first


class Browser:
    """A staff member's browser; a job a request starts runs when the request commits (in-process, as without
    Redis), before the next request."""

    def __init__(self, client, capture):
        self.client, self.capture = client, capture

    def get(self, *args, **kwargs):
        with self.capture(execute=True):
            return self.client.get(*args, **kwargs)


@pytest.fixture
def operator(client, django_capture_on_commit_callbacks):
    client.force_login(staff_in("Operator"))
    return Browser(client, django_capture_on_commit_callbacks)


def test_an_export_too_big_for_a_request_is_written_by_a_worker_and_offered_whole(program, operator, settings):  # noqa: F811
    opted_out_many(program.flash, 30, program.now)
    export_url = reverse("admin:contacts_smscontact_export") + f"?sender_code={program.short.code}"
    streamed = body(operator.get(export_url))
    assert streamed.count(b"\n") == 1 + 30 + 3  # header, the bulk and the program's own opt-outs of the code

    settings.EXPORT_DIRECT_MAX_ROWS = 20
    response = operator.get(export_url)

    job = ExportJob.objects.get()
    job_url = reverse("admin:transfers_exportjob_change", args=[job.pk])
    assert response.status_code == 302 and response["Location"] == job_url
    assert (job.status, job.rows_done, job.name, job.created_by.username) == (
        "ready",
        33,
        "opted-out",
        "staff-operator",
    )
    page = operator.get(response["Location"]).content.decode()
    download_url = reverse("admin:transfers_exportjob_download", args=[job.pk])
    assert "Ready to download" in page and download_url in page
    downloaded = operator.get(download_url)
    assert downloaded["Content-Disposition"].startswith('attachment; filename="opted-out-')
    assert body(downloaded) == streamed  # the whole export, the same bytes

    viewer = Client()
    viewer.force_login(staff_in("Viewer"))
    assert viewer.get(response["Location"]).status_code == 200  # sees the job: who asked for what
    assert viewer.get(download_url).status_code == 403  # raw numbers need contacts.export_numbers (R12)


def test_the_size_check_reads_no_more_rows_than_the_limit(program, operator, settings):  # noqa: F811
    # The source filter is one the tallies do not cover: their bound (33) is too high, the count decides.
    opted_out_many(program.flash, 30, program.now)
    settings.EXPORT_DIRECT_MAX_ROWS = 2
    url = reverse("admin:contacts_smscontact_export")
    small = operator.get(url, {"sender_code": program.short.code, "source": "delivery_receipt"})
    assert small.status_code == 200 and body(small).count(b"\n") == 2  # header and the STOP opt-out
    assert not ExportJob.objects.exists()
    big = operator.get(url, {"sender_code": program.short.code, "reason": "disconnected"})
    assert big.status_code == 302 and ExportJob.objects.get().rows_done == 30


def test_the_library_export_buttons_and_the_exports_page_hand_big_files_to_a_worker(program, operator, settings):  # noqa: F811
    settings.EXPORT_DIRECT_MAX_ROWS = 1
    for url in (reverse("admin:contacts_subscription_export"),
                reverse("admin:transfers_importjob_export", args=["subscriptions"])):  # fmt: skip
        response = operator.get(url)
        assert response.status_code == 302, url
    jobs = list(ExportJob.objects.order_by("pk"))
    assert [(job.name, job.status, job.rows_done) for job in jobs] == [("subscriptions", "ready", 8)] * 2
    assert body(operator.get(reverse("admin:transfers_exportjob_download", args=[jobs[0].pk]))).count(b"\n") == 9


def test_an_audience_too_big_for_a_request_is_a_job_too(program, operator, settings):  # noqa: F811
    saved = SavedFilter.objects.create(name="Flash Sales")
    saved.lists.set([program.flash, program.digest])
    settings.EXPORT_DIRECT_MAX_ROWS = 0
    response = operator.get(reverse("admin:contacts_savedfilter_export", args=[saved.pk]))
    job = ExportJob.objects.get()
    assert response.status_code == 302 and (job.name, job.title, job.status) == ("audience", "Flash Sales", "ready")
    download = operator.get(reverse("admin:transfers_exportjob_download", args=[job.pk]))
    assert body(download) == b"phone\n+12025550104\n"  # sendable only: never the suspended or opted out (R5)
    assert 'filename="audience-flash-sales-' in download["Content-Disposition"]


def test_retention_deletes_an_export_file_and_keeps_its_row(program, operator, settings):  # noqa: F811
    settings.EXPORT_DIRECT_MAX_ROWS = 0
    operator.get(reverse("admin:contacts_smscontact_export"), {"sender_code": program.short.code})
    job = ExportJob.objects.get()
    path = job.file.path
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=91))

    assert retention.remove_expired_uploads(now=timezone.now()) == {"reports": 0, "imports": 0, "exports": 1}

    job.refresh_from_db()
    assert (job.file.name, job.status, job.rows_done) == ("", "ready", 3) and job.file_removed_at
    assert not os.path.exists(path)
    assert operator.get(reverse("admin:transfers_exportjob_download", args=[job.pk])).status_code == 404
    assert "removed by retention" in operator.get(reverse("admin:transfers_exportjob_change", args=[job.pk])).text


def test_an_export_job_log_names_no_number(program, operator, settings, caplog):  # noqa: F811
    settings.EXPORT_DIRECT_MAX_ROWS = 0
    with caplog.at_level("INFO"):
        operator.get(reverse("admin:contacts_smscontact_export"), {"sender_code": program.short.code})
    ours = [record for record in caplog.records if record.name.startswith(("transfers", "contacts"))]
    logged = "\n".join(record.getMessage() for record in ours)
    assert "export queued job=" in logged and "export written job=" in logged
    assert not [phone for phone in Contact.objects.values_list("phone", flat=True) if phone[-4:] in logged]
    assert User.objects.get(username="staff-operator").pk == ExportJob.objects.get().created_by_id
