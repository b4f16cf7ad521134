"""Carrier notices: deactivated, disconnected and porting opt out everywhere (R1); suspended pauses a line
only where the carrier suspends (R5), else it is rejected with its reason; reactivated never re-opts-in (R4)."""

import io

import pytest

from django.core.management import CommandError, call_command

from contacts.models import Carrier, OptOutEvent, Reason, Source, Subscription, Suspension, SuspensionEnd
from contacts.services import opt_out
from reports.intake import IntakeResult
from reports.models import CarrierNotice, Channel, Effect
from reports.notices import NoticeIntake
from tests.factories import ContactFactory, SubscriberListFactory, SubscriptionFactory, at

pytestmark = pytest.mark.django_db


def notify(*items: dict) -> IntakeResult:
    return NoticeIntake(channel=Channel.API).ingest_items(list(items))


def notice(sub: Subscription, event: str, occurred_at: str = "2026-11-20", carrier: str | None = None) -> dict:
    name = carrier or sub.contact.carrier.name
    return {"phone": sub.contact.phone, "carrier": name, "event": event, "occurred_at": occurred_at}


@pytest.fixture
def verizon_sub():
    """A Verizon number on two sender codes' lists."""
    sub = SubscriptionFactory(contact=ContactFactory(carrier=Carrier.objects.get(name="Verizon")))
    SubscriptionFactory(contact=sub.contact, list=SubscriberListFactory())
    return sub


@pytest.mark.parametrize("event", ["deactivated", "disconnected", "porting"])
def test_r1_a_number_level_notice_opts_out_every_list_with_its_own_reason(verizon_sub, event):
    result = notify(notice(verizon_sub, event))
    assert not Subscription.objects.opted_in().exists()
    events = OptOutEvent.objects.all()
    assert {(e.reason, e.source, e.occurred_at) for e in events} == {(event, Source.CARRIER_NOTICE, at("2026-11-20"))}
    stored = CarrierNotice.objects.get()
    assert all(e.ref == stored for e in events)
    assert (stored.status, stored.outcome, result.accepted) == ("applied", Effect.OPTED_OUT, 1)


def test_r5_a_suspension_notice_pauses_a_verizon_number_for_30_days(verizon_sub):
    notify(notice(verizon_sub, "suspended", "2026-11-01T09:30:00Z"))
    suspension = Suspension.objects.get()
    assert (suspension.started_at, suspension.expires_at) == (at("2026-11-01T09:30"), at("2026-12-01T09:30"))
    assert (suspension.carrier.name, suspension.ref) == ("Verizon", CarrierNotice.objects.get())
    assert Subscription.objects.opted_in().count() == 2
    assert not Subscription.objects.sendable().exists()


def test_r5_a_suspension_notice_from_a_carrier_that_does_not_suspend_is_rejected_with_its_reason():
    sub = SubscriptionFactory()  # T-Mobile
    result = notify(notice(sub, "suspended"))
    assert result.items == [
        {"index": 0, "result": "rejected", "id": CarrierNotice.objects.get().pk,
         "reason": "T-Mobile does not support temporary suspension"}
    ]  # fmt: skip
    stored = CarrierNotice.objects.get()
    assert (stored.status, stored.rejection_reason) == ("rejected", "T-Mobile does not support temporary suspension")
    assert (result.accepted, result.rejected) == (0, 1)
    assert not Suspension.objects.exists()
    assert Subscription.objects.sendable().count() == 1


def test_r6_a_replayed_rejected_notice_is_a_duplicate():
    sub = SubscriptionFactory()
    notify(notice(sub, "suspended"))
    again = notify(notice(sub, "suspended"))
    assert (again.rejected, again.duplicates) == (0, 1)


def test_r4_reactivation_ends_the_suspension_but_never_re_opts_in(verizon_sub):
    other = Subscription.objects.exclude(pk=verizon_sub.pk).get()
    notify(notice(verizon_sub, "suspended", "2026-11-01"))
    opt_out(number=verizon_sub.contact.phone, reason=Reason.STOP, source=Source.OPERATOR,
            occurred_at=at("2026-11-03"), sender_code=verizon_sub.list.sender_code)  # fmt: skip
    result = notify(notice(verizon_sub, "reactivated", "2026-11-10"))
    suspension = Suspension.objects.get()
    assert (suspension.ended_at, suspension.end_reason) == (at("2026-11-10"), SuspensionEnd.REACTIVATED)
    verizon_sub.refresh_from_db()
    assert not verizon_sub.is_opted_in  # out by STOP, and a reactivation is no new consent (R4)
    assert list(Subscription.objects.sendable()) == [other]
    assert result.effects == {Effect.REACTIVATED: 1}


def test_a_reactivation_without_a_suspension_changes_nothing(verizon_sub):
    result = notify(notice(verizon_sub, "reactivated"))
    assert result.effects == {Effect.UNCHANGED: 1}
    assert Subscription.objects.sendable().count() == 2


def test_r5_a_deactivation_during_a_suspension_ends_it_and_opts_out(verizon_sub):
    notify(notice(verizon_sub, "suspended", "2026-11-01"))
    notify(notice(verizon_sub, "deactivated", "2026-11-05"))
    suspension = Suspension.objects.get()
    assert (suspension.ended_at, suspension.end_reason) == (at("2026-11-05"), SuspensionEnd.DEACTIVATED)
    assert not Subscription.objects.opted_in().exists()


def test_r3_a_notice_dated_before_a_reopt_in_is_stale():
    sub = SubscriptionFactory(opted_in_at=at("2026-11-21"))
    result = notify(notice(sub, "deactivated", "2026-11-19"))
    assert result.effects == {Effect.STALE: 1}
    assert Subscription.objects.opted_in().count() == 1


def test_r6_a_replayed_notice_changes_nothing(verizon_sub):
    notify(notice(verizon_sub, "deactivated"))
    again = notify(notice(verizon_sub, "deactivated"))
    assert (again.accepted, again.duplicates, again.applied.signals) == (0, 1, 0)
    assert (CarrierNotice.objects.count(), OptOutEvent.objects.count()) == (1, 2)


def test_r8_bad_notices_are_named(verizon_sub):
    good = notice(verizon_sub, "porting")
    result = notify({**good, "carrier": "Acme"}, {**good, "carrier": ""}, {**good, "event": "exploded"}, good)
    assert [item.get("reason") for item in result.items[:3]] == [
        "unknown carrier 'Acme'",
        "carrier is required",
        "unknown event 'exploded' (expected one of deactivated, disconnected, porting, suspended, reactivated)",
    ]
    assert (result.invalid, result.accepted) == (3, 1)


# The ingest_carrier_notices command


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path, text: str) -> str:
    path = tmp_path / "notices.csv"
    path.write_text(text)
    return str(path)


def test_ingest_carrier_notices_matches_carriers_by_name_or_alias_in_any_case(tmp_path):
    boost = SubscriptionFactory(contact__carrier=Carrier.objects.get(name="Sprint"))
    verizon = SubscriptionFactory(contact__carrier=Carrier.objects.get(name="Verizon"))
    text = (
        "phone,carrier,event,occurred_at\n"
        f"{boost.contact.phone},BOOST,Disconnected,2026-11-20\n"
        f"{verizon.contact.phone},verizon,suspended,2026-11-20T08:00:00Z\n"
        f"{boost.contact.phone},sprint,suspended,2026-11-20\n"
        f"{boost.contact.phone},Acme Mobile,deactivated,2026-11-20\n"
    )
    out, err = run("ingest_carrier_notices", write(tmp_path, text))
    assert out.strip() == (
        "rows=4 accepted=2 duplicates=0 invalid=1 rejected=1 opted_out=1 suspended=1 reactivated=0 stale=0 "
        "unchanged=0 not_found=0"
    )
    assert err.strip() == "line 5: unknown carrier 'Acme Mobile'"
    assert CarrierNotice.objects.get(event="disconnected").carrier.name == "Sprint"
    assert OptOutEvent.objects.get().reason == Reason.DISCONNECTED


def test_ingest_carrier_notices_again_is_a_no_op_that_says_so(tmp_path, verizon_sub):
    path = write(tmp_path, f"phone,carrier,event,occurred_at\n{verizon_sub.contact.phone},Verizon,porting,2026-11-20\n")
    run("ingest_carrier_notices", path)
    out, _ = run("ingest_carrier_notices", path)
    assert out.startswith("rows=1 accepted=0 duplicates=1 invalid=0 rejected=0 ")
    assert out.strip().endswith("(already ingested: nothing changed)")
    assert OptOutEvent.objects.count() == 2


def test_ingest_carrier_notices_refuses_a_file_that_is_not_a_notices_csv(tmp_path):
    with pytest.raises(CommandError, match="not a carrier notices CSV: header must be phone,carrier,event,occurred_at"):
        run("ingest_carrier_notices", write(tmp_path, "phone,sender_code,error_code,occurred_at\n2025550143,1,2,3\n"))
    assert not CarrierNotice.objects.exists()


def test_notices_admin_filters_by_event_and_status_and_shows_the_rejection(admin_client, verizon_sub):
    tmobile = SubscriptionFactory()
    notify(notice(verizon_sub, "suspended"), notice(tmobile, "suspended"), notice(tmobile, "porting"))
    url = "/admin/reports/carriernotice/"
    for query, expected in [("event=suspended", 2), ("status=rejected", 1), ("outcome=opted_out", 1),
                            (f"q={tmobile.contact.phone[2:]}", 2)]:  # fmt: skip
        assert admin_client.get(f"{url}?{query}", follow=True).context["cl"].result_count == expected, query
    rejected = CarrierNotice.objects.get(status="rejected")
    page = admin_client.get(f"{url}{rejected.pk}/change/")
    assert b"T-Mobile does not support temporary suspension" in page.content
    suspended = CarrierNotice.objects.get(status="applied", event="suspended")
    assert b"/admin/contacts/suspension/" in admin_client.get(f"{url}{suspended.pk}/change/").content
