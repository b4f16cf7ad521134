"""The reassigned-number ledger: what writes it (every report row, contact or not; deactivated and
disconnected notices), once per number and day (R6), in the report's transaction (R9); the answers
yes / no / no_data / invalid at the coverage boundary; retention and rebuild."""

import io
from datetime import date, timedelta

import pytest

from django.core.management import call_command
from django.utils import timezone

from contacts import ledger
from contacts.ledger_models import DeactivatedNumber, RecentDeactivation
from contacts.models import Subscription
from reports import services
from reports.models import Channel, DeactivationReport
from reports.notices import NoticeIntake
from reports.reassigned import Answer, answers, coverage_start
from reports.receipts import ReceiptIntake
from tests.factories import SubscriptionFactory
from tests.support.ledger import apply_report, clear_ledger, ledger_rows, report_of

pytestmark = pytest.mark.django_db
A, B = "+12025550143", "+12025550144"
D = date(2026, 11, 20)  # the report's day: the ledger's coverage starts here


def notice(phone: str, event: str, occurred_at: str) -> dict:
    return {"phone": phone, "carrier": "T-Mobile", "event": event, "occurred_at": occurred_at}


def test_every_valid_report_row_lands_in_the_ledger_contact_or_not():
    sub = SubscriptionFactory(contact__phone=A)
    apply_report(("(202) 555-0143", D), ("202.555.0144", D - timedelta(days=2)), ("not a number", D))
    assert ledger_rows() == {(A, D), (B, D - timedelta(days=2))}
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.OPTED_OUT  # the report still applies as before (R1)
    assert RecentDeactivation.objects.count() == 2  # appended in the report's transaction
    assert ledger.fold() == 2
    assert (RecentDeactivation.objects.count(), ledger_rows()) == (0, {(A, D), (B, D - timedelta(days=2))})
    row = DeactivatedNumber.objects.get(number=ledger.number_key(A))
    assert row.ref == DeactivationReport.objects.get()


def test_r6_one_row_per_number_and_day_whatever_reports_say_it_again():
    first = apply_report((A, D), (A, D), (A, D + timedelta(days=1)))
    services.ingest(first)  # the same report again: already applied
    ledger.fold()
    apply_report((A, D), (B, D), report_date=D)  # another report (other bytes) with the same deactivation
    assert ledger_rows() == {(A, D), (A, D + timedelta(days=1)), (B, D)}
    assert ledger.fold() == 1  # B's
    assert DeactivatedNumber.objects.count() == 3
    assert DeactivatedNumber.objects.get(number=ledger.number_key(A), deactivated_on=D).ref_id == first.pk


def test_r6_the_fold_keeps_one_row_per_number_and_day_the_first_source_first():
    first = apply_report((A, D), report_date=D)
    apply_report((A, D), (A, D), report_date=D + timedelta(days=1))  # not folded in between
    assert RecentDeactivation.objects.count() == 3
    assert ledger.fold() == 1
    assert [(row.phone, row.ref_id) for row in DeactivatedNumber.objects.all()] == [(A, first.pk)]
    assert ledger.fold() == 0


def test_r9_a_report_that_fails_adds_nothing_to_the_ledger():
    body = report_of((A, D)) + b"\x00\x01binary" * 1000
    report = services.report_for_upload(io.BytesIO(b"\x89PNG\r\n" + body), file_name="x.csv", report_date=D)
    with pytest.raises(services.ReportFailed):
        services.ingest(report)
    assert ledger_rows() == set()


@pytest.mark.parametrize("event", ["deactivated", "disconnected"])
def test_a_deactivation_or_disconnection_notice_lands_in_the_ledger_on_its_utc_day(event):
    NoticeIntake(channel=Channel.API).ingest_items([notice(A, event, "2026-11-20T23:30:00-05:00")])
    assert ledger_rows() == {(A, date(2026, 11, 21))}


@pytest.mark.parametrize("event", ["porting", "suspended", "reactivated"])
def test_other_notices_and_receipts_stay_out_of_the_ledger(event):
    sub = SubscriptionFactory(contact__phone=A)
    NoticeIntake(channel=Channel.API).ingest_items([notice(A, event, "2026-11-20")])
    ReceiptIntake(channel=Channel.API).ingest_items(
        [{"phone": A, "sender_code": sub.list.sender_code.code, "error_code": 629, "occurred_at": "2026-11-20"}]
    )
    assert ledger_rows() == set()


def test_a_replayed_notice_adds_nothing():
    NoticeIntake(channel=Channel.API).ingest_items([notice(A, "deactivated", "2026-11-20")])
    NoticeIntake(channel=Channel.API).ingest_items([notice(A, "deactivated", "2026-11-20")])
    assert RecentDeactivation.objects.count() == 1


def ask(*questions: tuple[object, object], today: date = D + timedelta(days=10)) -> list[tuple]:
    return [(r.answer, r.deactivated_on) for r in answers(questions, today=today)]


def test_the_three_answers_at_the_coverage_boundary():
    apply_report((B, D), report_date=D)
    assert coverage_start(today=D) == D
    assert ask((A, "2026-11-20"), (A, "2026-11-19T23:59:59Z"), (B, "2026-11-20T12:00:00Z"), (B, "2026-11-21")) == [
        (Answer.NO, None),  # consent on the first covered day, nothing since
        (Answer.NO_DATA, None),  # consent a second before the coverage
        (Answer.YES, D),  # deactivated the consent's own day: same comparison as R13
        (Answer.NO, None),  # consent after the deactivation: the new owner's
    ]


def test_before_any_report_there_is_no_coverage_but_a_notice_still_answers_yes():
    NoticeIntake(channel=Channel.API).ingest_items([notice(A, "disconnected", "2026-11-20")])
    assert coverage_start(today=D) is None
    assert ask((A, "2026-01-01"), (B, "2026-01-01")) == [(Answer.YES, D), (Answer.NO_DATA, None)]


def test_a_number_deactivated_twice_answers_with_the_first_deactivation_after_the_consent():
    apply_report((A, date(2026, 6, 1)), report_date=date(2026, 6, 1))
    apply_report((A, D), report_date=D)
    assert ask((A, "2026-05-01"), (A, "2026-06-02"), (A, "2026-11-21")) == [
        (Answer.YES, date(2026, 6, 1)),
        (Answer.YES, D),
        (Answer.NO, None),
    ]


def test_numbers_in_every_written_form_and_invalid_input():
    apply_report((A, D), report_date=D)
    forms = ["2025550143", "(202) 555-0143", "+1 202-555-0143", "1-202-555-0143", 2025550143]
    assert ask(*[(form, "2026-11-01") for form in forms]) == [(Answer.YES, D)] * len(forms)
    assert ask(("555", "2026-11-01"), (A, "yesterday"), (None, "2026-11-01"), ("", "")) == [(Answer.INVALID, None)] * 4


def test_retention_prunes_old_rows_and_moves_the_coverage_start(settings):
    settings.LEDGER_RETENTION_DAYS = 30
    apply_report((A, D), (B, D + timedelta(days=40)), report_date=D)
    today = D + timedelta(days=45)
    assert ledger.prune(today=today) == 1
    assert ledger_rows() == {(B, D + timedelta(days=40))}
    assert coverage_start(today=today) == today - timedelta(days=30)
    assert ask((A, "2026-11-21"), (B, "2026-11-21"), (A, "2026-12-20"), today=today) == [
        (Answer.NO_DATA, None),  # before the cutoff: what was known then is gone
        (Answer.YES, D + timedelta(days=40)),
        (Answer.NO, None),
    ]


def test_rebuild_ledger_refills_from_stored_reports_and_notices_and_is_idempotent():
    apply_report((A, D), (B, D), report_date=D)
    NoticeIntake(channel=Channel.API).ingest_items([notice("+12025550145", "deactivated", "2026-11-22")])
    before = ledger_rows()
    clear_ledger()
    out = io.StringIO()
    call_command("rebuild_ledger", stdout=out, stderr=io.StringIO())
    assert ledger_rows() == before
    assert "reports=1 rows=2 notices=1 added=3 unreadable=0" in out.getvalue()
    call_command("rebuild_ledger", stdout=(again := io.StringIO()), stderr=io.StringIO())
    assert "added=0" in again.getvalue()
    assert ledger_rows() == before


def test_rebuild_ledger_names_a_report_whose_file_is_gone_and_goes_on():
    report = apply_report((A, D), report_date=D)
    report.file.delete(save=False)
    NoticeIntake(channel=Channel.API).ingest_items([notice(B, "deactivated", "2026-11-22")])
    clear_ledger()
    err = io.StringIO()
    call_command("rebuild_ledger", stdout=(out := io.StringIO()), stderr=err)
    assert "unreadable=1" in out.getvalue()
    assert f"report {report.pk}" in err.getvalue()
    assert ledger_rows() == {(B, date(2026, 11, 22))}


def test_the_daily_prune_is_scheduled():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="contacts.tasks.prune_ledger")
    assert task.enabled and task.crontab.hour == "4"


def test_the_prune_task_uses_the_clock(settings):
    from contacts.tasks import prune_ledger

    settings.LEDGER_RETENTION_DAYS = 1
    apply_report((A, timezone.now().date() - timedelta(days=5)))
    assert prune_ledger.delay().get() == 1
