"""R5, R5a: a suspension pauses sending for 30 days without opting out."""

from datetime import timedelta

import pytest

from contacts.models import Carrier, Reason, Source, Subscription, Suspension, SuspensionEnd
from contacts.services import (
    Action,
    Signal,
    SuspensionNotSupported,
    apply_signals,
    expire_suspensions,
    list_counts,
    opt_out,
    reactivate,
    suspend,
)  # fmt: skip
from tests.factories import at


@pytest.fixture
def verizon(db):
    return Carrier.objects.get(name="Verizon")


@pytest.fixture
def suspended_sub(subscription_factory, contact_factory, verizon):
    sub = subscription_factory(contact=contact_factory(carrier=verizon))
    suspend(number=sub.contact.phone, occurred_at=at("2026-11-01"), source=Source.CARRIER_NOTICE)
    return sub


def test_r5_suspended_contact_counts_as_subscriber_but_not_sendable(suspended_sub, subscription_factory):
    subscription_factory(list=suspended_sub.list)  # a plain, sendable subscriber
    [counts] = list_counts()
    assert (counts.subscribers, counts.suspended, counts.sendable, counts.opted_out) == (2, 1, 1, 0)
    suspended_sub.refresh_from_db()
    assert suspended_sub.is_opted_in
    assert suspended_sub not in Subscription.objects.sendable()


def test_r5a_a_suspension_runs_thirty_days_from_when_it_occurred(suspended_sub):
    suspension = Suspension.objects.get()
    assert suspension.started_at == at("2026-11-01")
    assert suspension.expires_at == at("2026-12-01")
    assert suspension.carrier.name == "Verizon"  # taken from the contact on file


def test_r5a_expiry_at_day_30_exactly_and_not_at_day_29(suspended_sub):
    assert expire_suspensions(now=at("2026-11-30T23:59:59")) == 0
    assert Suspension.objects.active().count() == 1
    assert expire_suspensions(now=at("2026-12-01")) == 1
    suspension = Suspension.objects.get()
    assert (suspension.ended_at, suspension.end_reason) == (at("2026-12-01"), SuspensionEnd.EXPIRED)
    assert Subscription.objects.sendable().count() == 1


def test_r5a_expiry_is_one_statement_for_any_number_of_suspensions(
    django_assert_num_queries, subscription_factory, contact_factory, verizon
):
    for n in range(30):
        sub = subscription_factory(contact=contact_factory(carrier=verizon))
        suspend(
            number=sub.contact.phone,
            occurred_at=at("2026-10-01") + timedelta(hours=n),
            source=Source.CARRIER_NOTICE,
        )
    with django_assert_num_queries(1):
        ended = expire_suspensions(now=at("2026-12-31"))
    assert ended == 30


def test_r5a_an_ended_suspension_is_never_active_again_whatever_the_clock(suspended_sub):
    expire_suspensions(now=at("2027-01-01"))
    assert expire_suspensions(now=at("2026-11-02")) == 0
    assert not Suspension.objects.active().exists()


def test_r5_reactivation_ends_the_suspension_early(suspended_sub):
    result = reactivate(number=suspended_sub.contact.phone, occurred_at=at("2026-11-10"), source=Source.CARRIER_NOTICE)
    assert result.reactivated == 1
    suspension = Suspension.objects.get()
    assert (suspension.ended_at, suspension.end_reason) == (at("2026-11-10"), SuspensionEnd.REACTIVATED)
    assert Subscription.objects.sendable().count() == 1


def test_r5_deactivation_during_a_suspension_ends_it_and_opts_out(suspended_sub):
    result = opt_out(number=suspended_sub.contact.phone, reason=Reason.DEACTIVATED,
                     source=Source.DEACTIVATION_REPORT, occurred_at=at("2026-11-05"))  # fmt: skip
    assert (result.opted_out, result.suspensions_ended_by_deactivation) == (1, 1)
    suspension = Suspension.objects.get()
    assert (suspension.ended_at, suspension.end_reason) == (at("2026-11-05"), SuspensionEnd.DEACTIVATED)


def test_r5_suspension_for_a_carrier_that_does_not_suspend_is_refused(subscription_factory):
    sub = subscription_factory()  # T-Mobile
    with pytest.raises(SuspensionNotSupported, match="T-Mobile does not support temporary suspension"):
        suspend(number=sub.contact.phone, occurred_at=at("2026-11-01"), source=Source.CARRIER_NOTICE)
    assert not Suspension.objects.exists()


def test_r5_batch_suspensions_for_non_suspending_carriers_are_counted_unsupported(subscription_factory):
    sub = subscription_factory()
    result = apply_signals([Signal(sub.contact.phone, at("2026-11-01"), action=Action.SUSPEND)],
                           source=Source.DELIVERY_RECEIPT)  # fmt: skip
    assert (result.unsupported, result.suspended) == (1, 0)


def test_r6_replaying_a_suspension_changes_nothing(suspended_sub):
    again = suspend(number=suspended_sub.contact.phone, occurred_at=at("2026-11-01"), source=Source.CARRIER_NOTICE)
    assert (again.suspended, again.already_suspended) == (0, 1)
    expire_suspensions(now=at("2026-12-02"))
    after_expiry = suspend(number=suspended_sub.contact.phone, occurred_at=at("2026-11-01"),
                           source=Source.CARRIER_NOTICE)  # fmt: skip
    assert after_expiry.suspended == 0
    assert Suspension.objects.count() == 1
