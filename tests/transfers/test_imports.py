"""Each import kind goes through the domain services' rules, and a dry run writes nothing."""

import io

import pytest

from django.core.management import call_command

from contacts.models import Carrier, Contact, OptOutEvent, Reason, Source, Subscription
from contacts.services import opt_out
from reports.models import CarrierNotice, DeliveryReceipt
from tests.factories import SubscriptionFactory, at
from transfers.resources import NoticeImport, OptOutImport, ReceiptImport, SubscriptionImport

pytestmark = pytest.mark.django_db
NUMBER = "+12025550143"


def csv_file(*lines: str) -> io.BytesIO:
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def deactivated_subscription(flash) -> Subscription:
    sub = SubscriptionFactory(contact__phone=NUMBER, list=flash, opted_in_at=at("2026-01-01"))
    opt_out(number=NUMBER, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
            occurred_at=at("2026-03-01"))  # fmt: skip
    return sub


def test_opt_in_older_than_a_deactivation_is_refused_with_that_reason(flash):
    sub = deactivated_subscription(flash)

    file = csv_file("phone,sender_code,list,opted_in_at", f"{NUMBER},45678,Flash,2026-02-01")

    summary = SubscriptionImport().run(file, dry_run=False)

    assert (summary.invalid, summary.details["refused"], summary.created, summary.updated) == (1, 1, 0, 0)
    assert summary.samples == [
        {"line": 2, "reason": "opted out (deactivated) after this consent; a newer opt-in is needed"}
    ]
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.OPTED_OUT  # R4: no silent re-subscribe


def test_opt_in_after_the_deactivation_is_a_new_consent(flash):
    sub = deactivated_subscription(flash)

    file = csv_file("phone,sender_code,list,opted_in_at", f"{NUMBER},45678,Flash,2026-04-01")

    summary = SubscriptionImport().run(file, dry_run=False)

    assert (summary.updated, summary.details["reopted"], summary.invalid) == (1, 1, 0)
    sub.refresh_from_db()
    assert (sub.status, sub.opted_in_at, sub.opt_in_source) == ("opted_in", at("2026-04-01"), Source.IMPORT)


def test_a_dry_run_counts_what_the_import_does_and_writes_nothing(flash):
    content = "phone,sender_code,list,opted_in_at\n2025550143,45678,Flash,2026-01-01\n2025550144,45678,New,2026-01-01\n"

    preview = SubscriptionImport(create_lists=True).run(io.BytesIO(content.encode()), dry_run=True)

    assert (Contact.objects.count(), flash.sender_code.lists.count()) == (0, 1)
    applied = SubscriptionImport(create_lists=True).run(io.BytesIO(content.encode()), dry_run=False)
    assert preview.counts() == applied.counts()
    assert applied.created == 2 and flash.sender_code.lists.count() == 2


def test_manual_opt_outs_are_operator_reason_by_default_and_recorded_as_imported(flash, staff):
    sub = SubscriptionFactory(contact__phone=NUMBER, list=flash, opted_in_at=at("2026-01-01"))
    user = staff("Operator")
    file = csv_file("phone,sender_code,reason,occurred_at", "(202) 555-0143,45678,,2026-02-01",
                    "2025550144,45678,bogus,2026-02-01", "2025550145,99999,,2026-02-01")  # fmt: skip

    summary = OptOutImport(user=user).run(file, dry_run=False)

    assert (summary.created, summary.updated, summary.invalid) == (1, 1, 2)
    assert [s["reason"].split(" (")[0] for s in summary.samples] == [
        "unknown reason 'bogus'",
        "unknown sender code '99999'",
    ]
    event = OptOutEvent.objects.get()
    assert (event.reason, event.source, event.ref) == (Reason.OPERATOR, Source.IMPORT, user)
    sub.refresh_from_db()
    assert (sub.status, sub.opted_out_at) == ("opted_out", at("2026-02-01"))


def test_an_opt_out_older_than_the_consent_is_stale(flash):
    SubscriptionFactory(contact__phone=NUMBER, list=flash, opted_in_at=at("2026-03-01"))

    summary = OptOutImport().run(csv_file("phone,sender_code,occurred_at", f"{NUMBER},45678,2026-02-01"), dry_run=False)

    assert (summary.updated, summary.skipped, summary.details["stale"]) == (0, 1, 1)


def test_receipts_go_through_the_intake_and_a_replay_is_skipped(flash):
    sub = SubscriptionFactory(contact__phone=NUMBER, list=flash, opted_in_at=at("2026-01-01"))
    lines = (
        "phone,sender_code,error_code,occurred_at",
        f"{NUMBER},45678,629,2026-02-01",
        f"{NUMBER},45678,xx,2026-02-01",
    )

    first = ReceiptImport().run(csv_file(*lines), dry_run=False)
    again = ReceiptImport().run(csv_file(*lines), dry_run=False)

    assert (first.created, first.invalid, first.details["opted_out"]) == (1, 1, 1)
    assert (again.created, again.skipped) == (0, 1)
    assert DeliveryReceipt.objects.count() == 1
    sub.refresh_from_db()
    assert sub.opt_out_reason == Reason.PERMANENT_FAILURE


def test_carrier_notices_go_through_the_intake_and_a_dry_run_records_none(flash):
    SubscriptionFactory(contact__phone=NUMBER, list=flash, opted_in_at=at("2026-01-01"),
                        contact__carrier=Carrier.objects.get(name="Verizon"))  # fmt: skip
    lines = ("phone,carrier,event,occurred_at", f"{NUMBER},Verizon,suspended,2026-02-01",
             f"{NUMBER},T-Mobile,suspended,2026-02-01")  # fmt: skip

    preview = NoticeImport().run(csv_file(*lines), dry_run=True)
    assert CarrierNotice.objects.count() == 0
    applied = NoticeImport().run(csv_file(*lines), dry_run=False)

    assert preview.counts() == applied.counts()
    assert (applied.created, applied.details["suspended"], applied.details["rejected"]) == (2, 1, 1)


def test_the_library_entry_point_returns_its_result(flash):
    file = csv_file("phone,sender_code,list,opted_in_at", "x,45678,Flash,2026-01-01")

    result = SubscriptionImport().import_data(file, dry_run=True)

    # R8: the bad row is named, and does not hold the good ones back as the library's row validation would.
    assert result.totals["invalid"] == 1 and not result.has_validation_errors()
    assert result.invalid_rows[0].number == 2
    bad = SubscriptionImport().import_data(csv_file("nope"), dry_run=True)
    assert bad.has_errors() and "header must be" in str(bad.base_errors[0].error)


def test_import_command_runs_the_same_resources(flash, tmp_path, capsys):
    path = tmp_path / "subs.csv"
    path.write_text(
        "phone,sender_code,list,opted_in_at\n2025550143,45678,Flash,2026-01-01\nbad,45678,Flash,2026-01-01\n"
    )

    call_command("import_csv", "subscriptions", str(path), "--dry-run")
    call_command("import_csv", "subscriptions", str(path))

    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "rows=2 created=1 updated=0 skipped=0 invalid=1 (dry run: nothing written)",
        "rows=2 created=1 updated=0 skipped=0 invalid=1",
    ]
    assert "line 3: invalid phone number" in err
    assert Subscription.objects.count() == 1


def test_a_big_subscriptions_file_reports_progress_at_every_ten_thousand_rows_read_in_batches(flash):
    rows = [f"+1202555{n % 10_000:04d},45678,Flash,2026-01-01T{n % 24:02d}:00:00Z" for n in range(25_000)]
    seen = []

    summary = SubscriptionImport(progress=seen.append).run(csv_file("phone,sender_code,list,opted_in_at", *rows),
                                                           dry_run=False)  # fmt: skip

    assert seen == [10_000, 20_000, 25_000]
    assert (summary.rows, summary.created, summary.skipped, summary.invalid) == (25_000, 10_000, 15_000, 0)


def test_an_opt_outs_file_names_each_bad_row_in_line_order_and_applies_the_rest(flash):
    sub = SubscriptionFactory(contact__phone=NUMBER, list=flash, opted_in_at=at("2026-01-01"))
    file = csv_file(
        "phone,sender_code,occurred_at,reason",
        "not a number,45678,2026-02-01,",
        "+12025550143,99999,2026-02-01,",
        "+12025550143,45678,2026-02-01,bored",
        "+12025550143,45678,2026-02-30,",
        "+12025550143,45678,2999-01-01,",
        "(202) 555-0143,45678,2026-02-01T10:00:00-05:00,",
    )

    summary = OptOutImport().run(file, dry_run=False)

    assert [(s["line"], s["reason"]) for s in summary.samples] == [
        (2, "invalid phone number: not a phone number"),
        (3, "unknown sender code '99999'"),
        (4, f"unknown reason 'bored' (expected one of {', '.join(Reason.values)})"),
        (5, "occurred_at is not an ISO-8601 timestamp: '2026-02-30'"),
        (6, "occurred_at is in the future"),
    ]
    assert (summary.rows, summary.invalid, summary.updated) == (6, 5, 1)
    sub.refresh_from_db()
    assert (sub.status, sub.opt_out_reason, sub.opted_out_at) == ("opted_out", Reason.OPERATOR, at("2026-02-01T15:00"))
