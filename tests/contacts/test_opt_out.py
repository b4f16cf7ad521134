"""R1–R3, R6, R7: opt-outs by signal, scoped, consent-dated, idempotent, explainable."""

import pytest

from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import services
from contacts.models import Carrier, OptOutEvent, Reason, Source, Subscription
from contacts.services import Signal, apply_signals, opt_out
from tests.factories import at


def out_of(sub) -> bool:
    sub.refresh_from_db()
    return not sub.is_opted_in


def test_r1_deactivation_opts_the_number_out_of_every_list_of_every_sender_code(subscription_factory, list_factory):
    first = subscription_factory()
    second = subscription_factory(contact=first.contact, list=list_factory())  # another sender code
    same_code = subscription_factory(contact=first.contact, list=list_factory(sender_code=first.list.sender_code))

    result = opt_out(
        number=first.contact.phone, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
        occurred_at=at("2026-11-20"),
    )  # fmt: skip

    assert result.opted_out == 3
    assert all(out_of(s) for s in (first, second, same_code))
    assert first.opt_out_reason == Reason.DEACTIVATED
    assert first.opted_out_at == at("2026-11-20")
    # one event per affected sender code
    assert result.events == 2
    assert OptOutEvent.objects.filter(contact=first.contact).count() == 2


@pytest.mark.parametrize("reason", [Reason.DISCONNECTED, Reason.PORTING, Reason.PERMANENT_FAILURE])
def test_r1_other_number_level_signals_record_their_own_reason(subscription_factory, list_factory, reason):
    sub = subscription_factory()
    other = subscription_factory(contact=sub.contact, list=list_factory())
    opt_out(number=sub.contact.phone, reason=reason, source=Source.CARRIER_NOTICE, occurred_at=at("2026-11-20"))
    assert out_of(sub) and out_of(other)
    assert {sub.opt_out_reason, other.opt_out_reason} == {reason}


def test_r2_stop_on_one_sender_code_leaves_the_other_sender_code_alone(subscription_factory, list_factory):
    on_a = subscription_factory()
    also_on_a = subscription_factory(contact=on_a.contact, list=list_factory(sender_code=on_a.list.sender_code))
    on_b = subscription_factory(contact=on_a.contact, list=list_factory())

    result = opt_out(
        number=on_a.contact.phone, reason=Reason.STOP, source=Source.DELIVERY_RECEIPT,
        occurred_at=at("2026-11-20"), sender_code=on_a.list.sender_code, error_code=603,
    )  # fmt: skip

    assert out_of(on_a) and out_of(also_on_a)
    assert not out_of(on_b)
    assert result.events == 1
    event = OptOutEvent.objects.get()
    assert (event.reason, event.error_code, event.sender_code) == (Reason.STOP, 603, on_a.list.sender_code)


def test_r3_deactivation_before_reopt_in_is_stale(subscription_factory):
    sub = subscription_factory(opted_in_at=at("2026-11-21"))
    result = opt_out(
        number=sub.contact.phone, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
        occurred_at=at("2026-11-19"),
    )  # fmt: skip
    assert result.stale == 1
    assert result.opted_out == 0
    assert not out_of(sub)
    assert not OptOutEvent.objects.exists()


def test_r3_is_judged_per_subscription(subscription_factory, list_factory):
    old_consent = subscription_factory(opted_in_at=at("2026-01-01"))
    new_consent = subscription_factory(contact=old_consent.contact, list=list_factory(), opted_in_at=at("2026-11-21"))
    result = opt_out(
        number=old_consent.contact.phone, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
        occurred_at=at("2026-11-19"),
    )  # fmt: skip
    assert (result.opted_out, result.stale) == (1, 1)
    assert out_of(old_consent)
    assert not out_of(new_consent)


def test_a_signal_at_the_exact_consent_time_is_not_stale(subscription_factory):
    sub = subscription_factory(opted_in_at=at("2026-11-19T10:00:00"))
    opt_out(
        number=sub.contact.phone,
        reason=Reason.OPERATOR,
        source=Source.OPERATOR,
        occurred_at=at("2026-11-19T10:00:00"),
    )
    assert out_of(sub)


def test_r6_replaying_a_signal_changes_nothing(subscription_factory):
    sub = subscription_factory()
    signal = dict(
        number=sub.contact.phone, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
        occurred_at=at("2026-11-20"),
    )  # fmt: skip
    first = opt_out(**signal)
    sub.refresh_from_db()
    before = (sub.status, sub.opted_out_at, sub.opt_out_event_id)

    again = opt_out(**signal)

    sub.refresh_from_db()
    assert (sub.status, sub.opted_out_at, sub.opt_out_event_id) == before
    assert (first.opted_out, again.opted_out) == (1, 0)
    assert again.already_opted_out == 1
    assert again.events == 0
    assert OptOutEvent.objects.count() == 1


def test_r6_duplicates_in_one_batch_count_once_and_the_newest_date_is_recorded(subscription_factory):
    sub = subscription_factory()
    phone = sub.contact.phone
    result = apply_signals(
        [Signal(phone, at("2026-11-18"), Reason.DEACTIVATED), Signal(phone, at("2026-11-20"), Reason.DEACTIVATED),
         Signal(phone, at("2026-11-18"), Reason.DEACTIVATED)],
        source=Source.DEACTIVATION_REPORT,
    )  # fmt: skip
    assert (result.signals, result.matched_contacts, result.opted_out, result.events) == (3, 1, 1, 1)
    sub.refresh_from_db()
    assert sub.opted_out_at == at("2026-11-20")


def test_r7_every_opt_out_is_an_explainable_event(subscription_factory):
    sub = subscription_factory()
    carrier = Carrier.objects.get(name="AT&T")  # any saved row can be what carried the signal
    opt_out(
        number=sub.contact.phone, reason=Reason.PERMANENT_FAILURE, source=Source.DELIVERY_RECEIPT,
        occurred_at=at("2026-11-20T08:30:00"), error_code=629, ref=carrier,
    )  # fmt: skip
    sub.refresh_from_db()
    event = sub.opt_out_event
    assert event.contact == sub.contact
    assert event.sender_code == sub.list.sender_code
    assert (event.reason, event.source, event.error_code) == (
        Reason.PERMANENT_FAILURE,
        Source.DELIVERY_RECEIPT,
        629,
    )
    assert event.occurred_at == at("2026-11-20T08:30:00")
    assert event.recorded_at >= event.occurred_at
    assert event.ref == carrier


def test_r7_events_cannot_be_changed_or_deleted(subscription_factory):
    sub = subscription_factory()
    opt_out(number=sub.contact.phone, reason=Reason.OPERATOR, source=Source.OPERATOR, occurred_at=at("2026-11-20"))
    event = OptOutEvent.objects.get()
    event.reason = Reason.STOP
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        OptOutEvent.objects.all().delete()
    with pytest.raises(TypeError):
        OptOutEvent.objects.update(reason=Reason.STOP)
    assert OptOutEvent.objects.get().reason == Reason.OPERATOR


def test_an_unknown_number_is_counted_not_found(db):
    result = opt_out(
        number="+12025550199", reason=Reason.OPERATOR, source=Source.OPERATOR, occurred_at=at("2026-11-20")
    )
    assert (result.signals, result.not_found, result.opted_out) == (1, 1, 0)


@pytest.mark.parametrize("written", ["2025550143", "(202) 555-0143", "+1 202-555-0143", "1.202.555.0143"])
def test_r11_any_common_format_reaches_the_same_contact(subscription_factory, contact_factory, written):
    sub = subscription_factory(contact=contact_factory(phone="+12025550143"))
    opt_out(number=written, reason=Reason.OPERATOR, source=Source.OPERATOR, occurred_at=at("2026-11-20"))
    assert out_of(sub)
    assert Subscription.objects.opted_out().get().contact.phone == "+12025550143"


def test_match_by_index_once_the_contacts_far_outnumber_the_batch():
    # 20,000,000 contacts: a daily report (100,000 rows) or even a million-row file probes the phone index.
    assert services.match_by_index(20_000_000, 100_000) and services.match_by_index(20_000_000, 1_000_000)
    # 200,000 contacts and a million-row file: reading them all once is faster than a million probes.
    assert not services.match_by_index(200_000, 1_000_000)


@pytest.mark.parametrize("contacts_estimate", [3, 20_000_000], ids=["few contacts", "twenty million"])
def test_r1_a_batch_finds_the_same_contacts_through_the_phone_index_as_by_reading_them_all(
    subscription_factory, monkeypatch, contacts_estimate
):
    monkeypatch.setattr(services, "_contacts_estimate", lambda: contacts_estimate)  # what pg_class would say
    subs = [subscription_factory() for _ in range(3)]
    signals = [Signal(sub.contact.phone, at("2026-11-20"), Reason.DEACTIVATED) for sub in subs[:2]]
    signals.append(Signal("+12025550100", at("2026-11-20"), Reason.DEACTIVATED))  # no contact has it

    with CaptureQueriesContext(connection) as queries:
        result = apply_signals(signals, source=Source.DEACTIVATION_REPORT)

    assert (result.signals, result.matched_contacts, result.not_found, result.opted_out) == (3, 2, 1, 2)
    assert [out_of(sub) for sub in subs] == [True, True, False]
    if connection.vendor == "postgresql":
        by_index = any(q["sql"] == "SET LOCAL enable_hashjoin = off" for q in queries.captured_queries)
        assert by_index == (contacts_estimate > 1000)
        with connection.cursor() as cursor:  # the planner's settings are back to the server's for what follows
            cursor.execute("SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')")
            assert cursor.fetchone() == ("on", "on")
