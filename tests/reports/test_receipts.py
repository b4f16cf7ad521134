"""Delivery receipts: the code table decides what a receipt does (R1, R2, R5); stale ones are named (R3);
replays change nothing (R6); every opt-out points back to its receipt (R7); big files go set-based (R10)."""

import io
import time

import pytest

from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Carrier, CarrierErrorCode, OptOutEvent, Reason, Source, Subscription, Suspension
from reports.intake import IntakeResult
from reports.models import Channel, DeliveryReceipt, Effect
from reports.receipts import ReceiptIntake
from tests.factories import ContactFactory, SenderCodeFactory, SubscriberListFactory, SubscriptionFactory, at

pytestmark = pytest.mark.django_db


def receive(*items: dict) -> IntakeResult:
    return ReceiptIntake(channel=Channel.API).ingest_items(list(items))


def receipt(sub: Subscription, code: int | None, occurred_at: str = "2026-11-20T10:00:00Z", **extra) -> dict:
    return {"phone": sub.contact.phone, "sender_code": sub.list.sender_code.code, "error_code": code,
            "occurred_at": occurred_at, **extra}  # fmt: skip


def opted_in(*subs: Subscription) -> list[bool]:
    for sub in subs:
        sub.refresh_from_db()
    return [sub.is_opted_in for sub in subs]


@pytest.fixture
def two_codes():
    """One number on a list of sender code A and a list of sender code B."""
    on_a = SubscriptionFactory()
    on_b = SubscriptionFactory(contact=on_a.contact, list=SubscriberListFactory())
    return on_a, on_b


def test_r1_a_number_level_code_opts_the_number_out_of_every_sender_code(two_codes):
    on_a, on_b = two_codes
    result = receive(receipt(on_a, 629))
    assert opted_in(on_a, on_b) == [False, False]
    assert {e.reason for e in OptOutEvent.objects.all()} == {Reason.PERMANENT_FAILURE}
    assert result.effects == {Effect.OPTED_OUT: 1}
    assert DeliveryReceipt.objects.get().outcome == Effect.OPTED_OUT


@pytest.mark.parametrize("code", [4001, 30003])
def test_a_temporary_code_opts_nothing_out(two_codes, code):
    on_a, on_b = two_codes
    result = receive(receipt(on_a, code))
    assert opted_in(on_a, on_b) == [True, True]
    assert not OptOutEvent.objects.exists()
    assert (result.accepted, DeliveryReceipt.objects.get().outcome) == (1, Effect.RECORDED)


def test_a_receipt_without_an_error_code_is_a_delivery(two_codes):
    on_a, _ = two_codes
    receive(receipt(on_a, None), receipt(on_a, "", "2026-11-20T11:00:00Z"))
    assert list(DeliveryReceipt.objects.values_list("error_code", "outcome")) == [(None, Effect.DELIVERED)] * 2
    assert opted_in(on_a) == [True]


def test_r2_stop_on_sender_code_a_leaves_sender_code_bs_lists_opted_in(two_codes):
    on_a, on_b = two_codes
    also_on_a = SubscriptionFactory(contact=on_a.contact, list=SubscriberListFactory(sender_code=on_a.list.sender_code))
    receive(receipt(on_a, 603))
    assert opted_in(on_a, also_on_a, on_b) == [False, False, True]
    event = OptOutEvent.objects.get()
    assert (event.reason, event.sender_code, event.error_code) == (Reason.STOP, on_a.list.sender_code, 603)


@pytest.mark.parametrize("code", [560, 573])
def test_r2_codes_that_name_the_sender_code_opt_out_on_it_only(two_codes, code):
    on_a, on_b = two_codes
    receive(receipt(on_a, code))
    assert opted_in(on_a, on_b) == [False, True]
    assert OptOutEvent.objects.get().reason == Reason.PERMANENT_FAILURE


def test_r3_a_receipt_dated_before_a_reopt_in_is_stale():
    sub = SubscriptionFactory(opted_in_at=at("2026-11-21"))
    result = receive(receipt(sub, 629, "2026-11-19T08:00:00Z"))
    assert opted_in(sub) == [True]
    assert (result.applied.stale, result.effects) == (1, {Effect.STALE: 1})
    assert DeliveryReceipt.objects.get().outcome == Effect.STALE


def test_r5_code_569_suspends_a_verizon_number_without_opting_it_out():
    sub = SubscriptionFactory(contact=ContactFactory(carrier=Carrier.objects.get(name="Verizon")))
    receive(receipt(sub, 569, "2026-11-01T00:00:00Z"))
    suspension = Suspension.objects.get()
    stored = DeliveryReceipt.objects.get()
    assert (suspension.started_at, suspension.expires_at) == (at("2026-11-01"), at("2026-12-01"))
    assert (suspension.source, suspension.ref) == (Source.DELIVERY_RECEIPT, stored)
    assert stored.outcome == Effect.SUSPENDED
    assert opted_in(sub) == [True]
    assert not Subscription.objects.sendable().exists()


def test_r5a_code_569_uses_the_receipts_carrier_over_the_one_on_file():
    sub = SubscriptionFactory(contact=ContactFactory(carrier=Carrier.objects.get(name="Verizon")))
    receive(receipt(sub, 569, carrier="t-mobile"))
    assert not Suspension.objects.exists()
    assert DeliveryReceipt.objects.get().outcome == Effect.UNSUPPORTED
    assert opted_in(sub) == [True]


def test_editing_a_codes_action_changes_what_the_next_receipt_does():
    first, second, third = SubscriptionFactory(), SubscriptionFactory(), SubscriptionFactory()
    receive(receipt(first, 629))
    CarrierErrorCode.objects.filter(code=629).update(action=CarrierErrorCode.Action.IGNORE, reason="")
    CarrierErrorCode.objects.create(code=4001, description="Tried it", action="opt_out_number", reason="disconnected")
    receive(receipt(second, 629), receipt(third, 4001))
    assert opted_in(first, second, third) == [False, True, False]
    assert OptOutEvent.objects.get(contact=third.contact).reason == Reason.DISCONNECTED


def test_r6_a_replayed_receipt_changes_nothing(two_codes):
    on_a, _ = two_codes
    first = receive(receipt(on_a, 629, message_id="SM1"), receipt(on_a, 4001))
    again = receive(receipt(on_a, 629, message_id="SM1"), receipt(on_a, 4001))
    assert (first.accepted, first.duplicates) == (2, 0)
    assert (again.accepted, again.duplicates, again.applied.signals) == (0, 2, 0)
    assert [item["result"] for item in again.items] == ["duplicate", "duplicate"]
    assert (DeliveryReceipt.objects.count(), OptOutEvent.objects.count()) == (2, 2)


def test_r6_a_provider_id_alone_identifies_a_receipt(two_codes):
    on_a, _ = two_codes
    receive(receipt(on_a, 4001, message_id="SM1"))
    again = receive(receipt(on_a, 629, "2026-11-21T00:00:00Z", message_id="SM1"))
    assert again.duplicates == 1
    assert opted_in(on_a) == [True]


def test_r6_repeats_within_one_batch_are_recorded_once(two_codes):
    on_a, _ = two_codes
    result = receive(receipt(on_a, 629), receipt(on_a, 629), receipt(on_a, None), receipt(on_a, None))
    assert (result.accepted, result.duplicates) == (2, 2)
    assert [item["result"] for item in result.items] == ["accepted", "duplicate", "accepted", "duplicate"]
    assert DeliveryReceipt.objects.count() == 2


def test_r6_of_two_differing_items_with_one_provider_id_the_recorded_one_is_accepted(two_codes):
    on_a, _ = two_codes
    items = [receipt(on_a, 4001, message_id="SM1"), receipt(on_a, 629, message_id="SM1")]
    result = receive(*items)
    [accepted] = [item for item in result.items if item["result"] == "accepted"]
    stored = DeliveryReceipt.objects.get()
    assert (accepted["id"], items[accepted["index"]]["error_code"]) == (stored.pk, stored.error_code)
    assert (result.accepted, result.duplicates) == (1, 1)
    assert opted_in(on_a) == [stored.error_code != 629]


def test_r7_the_opt_out_event_and_the_receipt_point_at_each_other(two_codes):
    on_a, on_b = two_codes
    result = receive(receipt(on_a, 629, message_id="SM9"))
    stored = DeliveryReceipt.objects.get()
    events = OptOutEvent.objects.filter(ref_type=ContentType.objects.get_for_model(DeliveryReceipt), ref_id=stored.pk)
    assert events.count() == 2  # one per sender code
    assert {(e.source, e.error_code, e.occurred_at) for e in events} == {
        (Source.DELIVERY_RECEIPT, 629, at("2026-11-20T10:00:00"))
    }
    assert result.items == [{"index": 0, "result": "accepted", "id": stored.pk, "outcome": "opted_out"}]


def test_r8_bad_items_are_named_and_the_good_ones_apply(two_codes):
    on_a, _ = two_codes
    good = receipt(on_a, 629)
    result = receive(
        {**good, "phone": "not a number"},
        {**good, "sender_code": "99999"},
        {**good, "occurred_at": "yesterday"},
        {**good, "occurred_at": "2999-01-01"},
        {**good, "error_code": "5xx"},
        {**good, "carrier": "No Such Carrier"},
        {**good, "phone": ["+12025550100"]},
        "not an object",
        good,
    )
    reasons = [item.get("reason", "") for item in result.items]
    assert reasons[:8] == [
        "invalid phone number: not a phone number",
        "unknown sender code '99999'",
        "occurred_at is not an ISO-8601 timestamp: 'yesterday'",
        "occurred_at is in the future",
        "error_code is not a carrier code: '5xx'",
        "unknown carrier 'No Such Carrier'",
        "phone must be a string or a whole number",
        "not a JSON object",
    ]
    assert (result.invalid, result.accepted) == (8, 1)
    assert opted_in(on_a) == [False]


def test_r11_a_receipt_finds_the_number_in_any_format():
    sub = SubscriptionFactory(contact__phone="+12025550143")
    receive({**receipt(sub, 629), "phone": "(202) 555-0143"})
    assert DeliveryReceipt.objects.get().phone == "+12025550143"
    assert opted_in(sub) == [False]


def test_a_number_on_no_list_is_recorded_as_not_found():
    code = SenderCodeFactory()
    result = receive({"phone": "+12025550199", "sender_code": code.code, "error_code": 629,
                      "occurred_at": "2026-11-20"})  # fmt: skip
    assert result.effects == {Effect.NOT_FOUND: 1}


# The ingest_receipts command


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path, text: str | bytes, name="receipts.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def csv_for(two_codes) -> str:
    on_a, on_b = two_codes
    phone, a, b = on_a.contact.phone, on_a.list.sender_code.code, on_b.list.sender_code.code
    return (
        "phone,sender_code,error_code,occurred_at,carrier,message_id\n"
        f"{phone},{a},603,2026-11-20T10:00:00Z,Verizon,SM1\n"
        f"{phone},{b},,2026-11-20T10:00:00Z,,SM2\n"
        f"{phone},{b},4001,2026-11-20T11:00:00Z,,\n"
        f"{phone},{b},629,2026-11-19,,\n"
        f"not a number,{b},629,2026-11-19,,\n"
        f"{phone},77777,629,2026-11-19,,\n"
    )


def test_ingest_receipts_prints_one_summary_and_names_bad_rows(tmp_path, two_codes):
    out, err = run("ingest_receipts", write(tmp_path, csv_for(two_codes)))
    assert out.strip() == (
        "rows=6 accepted=4 duplicates=0 invalid=2 delivered=1 recorded=1 opted_out=2 suspended=0 stale=0 "
        "unchanged=0 not_found=0 unsupported=0"
    )
    assert err.splitlines() == [
        "line 6: invalid phone number: not a phone number",
        "line 7: unknown sender code '77777'",
    ]
    assert opted_in(*two_codes) == [False, False]
    assert DeliveryReceipt.objects.get(message_id="SM1").carrier.name == "Verizon"
    assert set(DeliveryReceipt.objects.values_list("source", flat=True)) == {Channel.CSV}


def test_ingest_receipts_again_is_a_no_op_that_says_so(tmp_path, two_codes):
    path = write(tmp_path, csv_for(two_codes))
    run("ingest_receipts", path)
    events = OptOutEvent.objects.count()
    out, _ = run("ingest_receipts", path)
    assert out.startswith("rows=6 accepted=0 duplicates=4 invalid=2 ")
    assert out.strip().endswith("(already ingested: nothing changed)")
    assert (DeliveryReceipt.objects.count(), OptOutEvent.objects.count()) == (4, events)


def test_ingest_receipts_takes_the_four_required_columns_alone(tmp_path):
    sub = SubscriptionFactory()
    text = f"phone,sender_code,error_code,occurred_at\n{sub.contact.phone},{sub.list.sender_code.code},629,2026-11-20\n"
    out, _ = run("ingest_receipts", write(tmp_path, text))
    assert out.startswith("rows=1 accepted=1 ")
    assert opted_in(sub) == [False]


@pytest.mark.parametrize(
    "content, message",
    [
        ("phone,sender_code,list,opted_in_at\n2025550143,45678,News,2026-01-01\n", "missing error_code"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("", "empty"),
    ],
)
def test_ingest_receipts_refuses_a_file_that_is_not_a_receipts_csv(tmp_path, content, message):
    with pytest.raises(CommandError, match=f"not a receipts CSV.*{message}"):
        run("ingest_receipts", write(tmp_path, content))
    assert not DeliveryReceipt.objects.exists()


def test_ingest_receipts_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run("ingest_receipts", str(tmp_path / "nope.csv"))


AREAS = [202, 212, 213, 305, 312, 404, 415, 512, 617, 702, 713, 718, 801, 808, 917, 919, 206, 303, 503, 602]
CODES = (629, 603, 4001, "")  # row n carries CODES[n % 4]: a quarter each opt out, STOP, temporary, delivered


def phone_for(n: int) -> str:
    return f"+1{AREAS[n % 20]}555{n // 20 % 10000:04d}"


def receipts_csv(tmp_path, rows: int, sender_code: str) -> str:
    """`rows` receipts for distinct numbers on one sender code."""
    path = tmp_path / f"receipts-{rows}.csv"
    with open(path, "w") as out:
        out.write("phone,sender_code,error_code,occurred_at,message_id\n")
        for n in range(rows):
            out.write(f"{phone_for(n)},{sender_code},{CODES[n % 4]},2026-11-20T10:00:00Z,m{n}\n")
    return str(path)


def test_r10_ingest_receipts_queries_do_not_grow_with_rows(tmp_path):
    code = SenderCodeFactory().code
    small, big = receipts_csv(tmp_path, 1_000, code), receipts_csv(tmp_path, 10_000, code)
    with CaptureQueriesContext(connection) as few:
        run("ingest_receipts", small)
    with CaptureQueriesContext(connection) as many:
        run("ingest_receipts", big)
    assert len(many) == len(few)
    assert DeliveryReceipt.objects.count() == 10_000  # the first 1,000 were replays


def test_r10_ingest_receipts_with_200000_rows_is_set_based(tmp_path):
    lst = SubscriberListFactory()
    subs = [SubscriptionFactory(list=lst, contact__phone=phone_for(n)) for n in range(40)]
    path = receipts_csv(tmp_path, 200_000, lst.sender_code.code)
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        out, _ = run("ingest_receipts", path)
    elapsed = time.monotonic() - started
    assert out.split()[:6] == ["rows=200000", "accepted=200000", "duplicates=0", "invalid=0", "delivered=50000",
                               "recorded=50000"]  # fmt: skip
    assert "opted_out=20 " in out and "not_found=99980 " in out
    assert len(queries) < 60  # a fixed handful of statements, however many rows
    assert DeliveryReceipt.objects.count() == 200_000
    assert opted_in(*subs) == [CODES[n % 4] not in (629, 603) for n in range(40)]
    assert elapsed < 120


# The admin: read-only lists, filters, search by number, and the way back from an opt-out


def test_receipts_admin_is_a_read_only_list_with_filters_and_number_search(admin_client, two_codes):
    on_a, _ = two_codes
    receive(receipt(on_a, 629, message_id="SM7"), receipt(on_a, 4001), receipt(on_a, None))
    url = "/admin/reports/deliveryreceipt/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"Add delivery receipt" not in page.content
    phone = on_a.contact.phone
    written = f"({phone[2:5]}) {phone[5:8]}-{phone[8:]}"  # as staff type it (R11)
    for query, expected in [({"code": "629"}, 1), ({"code": "delivered"}, 1), ({"code": "other"}, 1),
                            ({"outcome": "recorded"}, 1), ({"q": written}, 3), ({"q": "SM7"}, 1),
                            ({"q": "+12025559999"}, 0)]:  # fmt: skip
        assert admin_client.get(url, query, follow=True).context["cl"].result_count == expected, query


def test_r7_a_receipt_page_links_what_it_caused_and_the_event_links_back(admin_client, two_codes):
    on_a, _ = two_codes
    receive(receipt(on_a, 629))
    stored = DeliveryReceipt.objects.get()
    page = admin_client.get(f"/admin/reports/deliveryreceipt/{stored.pk}/change/")
    assert page.status_code == 200
    event = OptOutEvent.objects.filter(sender_code=on_a.list.sender_code).get()
    assert f'href="/admin/contacts/optoutevent/{event.pk}/change/"'.encode() in page.content
    assert b"Destination address unable to receive SMS" in page.content
    event_page = admin_client.get(f"/admin/contacts/optoutevent/{event.pk}/change/")
    assert f'href="/admin/reports/deliveryreceipt/{stored.pk}/change/"'.encode() in event_page.content
