"""R14, the mass opt-out guard, through the command, the upload and S3; release and discard; the layout alarm."""

import io

import pytest

from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.urls import reverse

from contacts.models import OptOutEvent, Subscription
from reports import lifecycle, services
from reports.models import DeactivationReport, DeliveryReceipt
from tests.reports.builders import DAY, dated_key, numbers, report_csv, snapshot, subscribe_many
from tests.support.commands import run
from transfers.models import ImportJob

pytestmark = pytest.mark.django_db
Status = DeactivationReport.Status


def write(path, body: bytes) -> str:
    path.write_bytes(body)
    return str(path)


@pytest.fixture
def lists():
    """Two lists of 300 subscribers, each of its own sender code; a file may hit the first only."""
    phones = list(numbers(600))
    first = subscribe_many(phones[:300], lists=1)[0]
    second = subscribe_many(phones[300:], lists=1)[0]
    return phones, first, second


def test_r14_a_report_that_would_opt_out_half_a_list_is_held_and_changes_nothing(lists, tmp_path):
    phones, first, _ = lists
    before = snapshot()
    path = write(tmp_path / "deact.csv", report_csv(*((phone, DAY) for phone in phones[:150])))

    code, out, err = run("ingest_deactivations", "--file", path)

    report = DeactivationReport.objects.get()
    assert code == 3
    assert out.startswith(f"held: report={report.pk} ")
    assert f"list={first.sender_code.code}/{first.name} would_opt_out=150 subscribers=300 percent=50.0" in out
    assert "release_report" in err
    assert snapshot() == before
    assert report.status == Status.HELD
    assert report.held_lists == [
        {"list_id": first.pk, "sender_code": first.sender_code.code, "list": first.name, "would_opt_out": 150,
         "subscribers": 300, "percent": 50.0}
    ]  # fmt: skip


def test_r14_a_report_at_either_limit_applies(lists, tmp_path, settings):
    phones, _, second = lists
    # 100 of 300 is a third of the list, but not more than OPT_OUT_GUARD_MIN (100) subscriptions.
    code, out, _ = run("ingest_deactivations", "--file", write(tmp_path / "a.csv", report_csv(
        *((phone, DAY) for phone in phones[:100]))))  # fmt: skip
    assert (code, out.split(":")[0]) == (0, "applied")
    # 15 of 300 is 5%: not more than OPT_OUT_GUARD_PERCENT, though more than a lowered minimum.
    settings.OPT_OUT_GUARD_MIN = 10
    code, out, _ = run("ingest_deactivations", "--file", write(tmp_path / "b.csv", report_csv(
        *((phone, DAY) for phone in phones[300:315]))))  # fmt: skip
    assert (code, out.split(":")[0]) == (0, "applied")
    assert Subscription.objects.opted_out().count() == 115


def test_r14_zero_percent_turns_the_guard_off(lists, tmp_path, settings):
    phones, _, _ = lists
    settings.OPT_OUT_GUARD_PERCENT = 0

    code, out, _ = run("ingest_deactivations", "--file", write(tmp_path / "d.csv", report_csv(
        *((phone, DAY) for phone in phones[:300]))))  # fmt: skip

    assert code == 0 and "opted_out=300" in out


@pytest.fixture
def held(lists, tmp_path) -> DeactivationReport:
    phones, _, _ = lists
    body = report_csv(*((phone, DAY) for phone in phones[:150] + phones[300:450]))  # half of each list
    result = services.ingest(services.report_for_upload(io.BytesIO(body), file_name="half.csv", report_date=None))
    assert result.report.status == Status.HELD and len(result.report.held_lists) == 2
    return result.report


def test_r14_release_applies_the_held_report_exactly_as_it_would_have_once(held):
    code, out, _ = run("release_report", str(held.pk))

    held.refresh_from_db()
    assert code == 0
    assert out.startswith(f"applied: report={held.pk} ")
    assert "opted_out=300" in out
    assert held.status == Status.SUCCEEDED and held.decided_at is not None
    assert Subscription.objects.opted_out().count() == OptOutEvent.objects.count() == 300
    # Released once: again it is refused and nothing changes (R6).
    code, _, err = run("release_report", str(held.pk))
    assert code == 1 and f"report {held.pk} is succeeded, not held" in err
    assert OptOutEvent.objects.count() == 300


def test_r14_discard_keeps_the_report_on_record_and_never_applies_it(held):
    before = snapshot()

    code, out, _ = run("release_report", str(held.pk), "--discard")

    held.refresh_from_db()
    assert code == 0 and out.startswith(f"discarded: report={held.pk} ")
    assert held.status == Status.DISCARDED
    # Neither a rerun (a redelivered task) nor a release applies a discarded report.
    assert services.ingest(held).applied is False
    assert run("release_report", str(held.pk))[0] == 1
    assert snapshot() == before


def test_r14_a_held_report_stays_held_when_its_task_runs_again(held):
    """A worker killed after the hold has its task redelivered (acks_late): the rerun must not apply it."""
    before = snapshot()

    result = services.ingest(held)

    held.refresh_from_db()
    assert (result.applied, held.status) == (False, Status.HELD)
    assert snapshot() == before


def test_release_report_refuses_a_report_that_is_not_held(tmp_path):
    report = services.report_for_upload(io.BytesIO(report_csv()), file_name="empty.csv", report_date=DAY)

    code, _, err = run("release_report", str(report.pk))

    assert code == 1 and f"report {report.pk} is pending, not held" in err
    assert run("release_report", "999999")[0] == 1


def test_r14_the_export_shows_the_held_status(held):
    out = io.StringIO()
    call_command("export_csv", "deactivation_reports", stdout=out)
    assert ",held," in out.getvalue()


def test_r14_an_upload_in_the_admin_is_held(lists, admin_client, django_capture_on_commit_callbacks):
    phones, first, _ = lists
    body = report_csv(*((phone, DAY) for phone in phones[:200]))
    upload = io.BytesIO(body)
    upload.name = "provider.csv"

    with django_capture_on_commit_callbacks(execute=True):  # the queued ingest runs, in-process
        response = admin_client.post(reverse("admin:reports_deactivationreport_upload"), {"file": upload})

    report = DeactivationReport.objects.get()
    assert response.status_code == 302
    assert report.status == Status.HELD
    assert report.held_lists[0]["would_opt_out"] == 200
    assert Subscription.objects.opted_out().count() == 0


def test_r14_a_report_from_s3_is_held(lists, s3_reports):
    phones, _, _ = lists
    s3_reports.put(dated_key(DAY), report_csv(*((phone, DAY) for phone in phones[:120])))

    result = services.fetch_dated(DAY)

    assert (result.applied, result.message, result.report.status) == (False, services.HELD, Status.HELD)
    assert Subscription.objects.opted_out().count() == 0


def test_r14_only_an_admin_releases_from_the_reports_page(held, client):
    operator = User.objects.create_user("op", password="x", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    client.force_login(operator)
    url = reverse("admin:reports_deactivationreport_release", args=[held.pk])

    assert client.post(url, {"confirm": "yes"}).status_code == 403
    held.refresh_from_db()
    assert held.status == Status.HELD


def test_layout_not_recognised_fails_a_mostly_invalid_report_whole(lists, tmp_path):
    phones, _, _ = lists
    # The file that was tried: pipe-delimited, an action code, 14-digit timestamps.
    body = "msisdn|action|timestamp\n" + "".join(f"{p[1:]}|D|20261130101500\n" for p in phones[:40])
    before = snapshot()

    code, out, err = run("ingest_deactivations", "--file", write(tmp_path / "pipe.csv", body.encode()))

    report = DeactivationReport.objects.get()
    assert code == 1 and out.startswith("failed: ")
    assert "layout not recognised: 40 of 40 rows invalid (first: line 2: " in report.error
    assert report.status == Status.FAILED
    assert snapshot() == before


def test_layout_limit_follows_the_setting(lists, tmp_path, settings):
    phones, _, _ = lists
    body = report_csv(*((phone, DAY) for phone in phones[:3])) + b"garbage,2026-01-01\n" * 2  # 40% invalid
    settings.REPORT_INVALID_MAX_PERCENT = 30

    with pytest.raises(services.ReportFailed, match="layout not recognised: 2 of 5 rows invalid"):
        services.ingest(services.report_for_upload(io.BytesIO(body), file_name="x.csv", report_date=None))


def test_a_release_by_the_service_records_who_decided(held, admin_user):
    report = lifecycle.release(held.pk, user=admin_user)

    assert (report.status, report.decided_by) == (Status.SUCCEEDED, admin_user)


def test_r14_a_receipts_file_that_would_empty_a_list_exits_3_and_records_nothing(lists, tmp_path):
    phones, first, _ = lists
    code_ = first.sender_code.code
    rows = "".join(f"{phone},{code_},629,2026-11-20T10:00:00Z\n" for phone in phones[:200])
    path = write(tmp_path / "receipts.csv", ("phone,sender_code,error_code,occurred_at\n" + rows).encode())
    before = snapshot()

    code, out, err = run("ingest_receipts", path)

    job = ImportJob.objects.get()
    assert code == 3 and out.startswith(f"held: import={job.pk} kind=receipts lists=1 ")
    assert f"release_report --import {job.pk}" in err
    assert snapshot() == before and not DeliveryReceipt.objects.exists()
    assert job.status == ImportJob.Status.HELD

    code, out, _ = run("release_report", "--import", str(job.pk))

    assert code == 0 and out.startswith(f"applied: import={job.pk} kind=receipts rows=200 created=200 ")
    assert DeliveryReceipt.objects.count() == 200 and Subscription.objects.opted_out().count() == 200
    code, _, err = run("release_report", "--import", str(job.pk))
    assert code == 1 and "is applied, not held" in err
    assert DeliveryReceipt.objects.count() == 200


def test_a_receipts_file_under_the_guard_keeps_its_summary_line_and_records_an_applied_job(lists, tmp_path):
    phones, first, _ = lists
    rows = "".join(f"{phone},{first.sender_code.code},629,2026-11-20T10:00:00Z\n" for phone in phones[:3])
    path = write(tmp_path / "receipts.csv", ("phone,sender_code,error_code,occurred_at\n" + rows).encode())

    code, out, _ = run("ingest_receipts", path)

    assert code == 0 and out.startswith("rows=3 accepted=3 duplicates=0 invalid=0")
    job = ImportJob.objects.get()
    assert (job.kind, job.status, job.result["created"]) == ("receipts", ImportJob.Status.APPLIED, 3)
