"""The per-list tallies the triggers keep agree with counting the rows, whatever writes them.

Every test that touches the database also ends with a full recount (`_tallies_agree` in tests/conftest.py);
these tests name the writes the dashboard depends on and the edges of a period.
"""

import random
from datetime import timedelta

import pytest

from contacts import tallies
from contacts.models import Carrier, ListTally, OptOutTally, Reason, Source, Subscription, Suspension
from contacts.services import list_counts, opt_out, reactivate, suspend
from tests.factories import at


@pytest.fixture
def verizon(db):
    return Carrier.objects.get(name="Verizon")


def totals(lst) -> tallies.Totals:
    return tallies.list_totals([lst.id]).get(lst.id, tallies.Totals())


def test_the_triggers_are_installed(db):
    expected = {f"{table}_tally_{op}" for table in tallies.TRIGGERED_TABLES for op in ("insert", "update", "delete")}
    assert tallies.installed_triggers() == expected


def test_opting_in_and_out_moves_the_list_totals(subscription_factory, list_factory):
    lst = list_factory()
    subs = [subscription_factory(list=lst) for _ in range(3)]
    assert totals(lst) == tallies.Totals(subscribers=3, suspended=0)
    opt_out(number=subs[0].contact.phone, reason=Reason.DEACTIVATED, source=Source.CARRIER_NOTICE,
            occurred_at=at("2026-11-02T10:00"))  # fmt: skip
    assert totals(lst) == tallies.Totals(subscribers=2, suspended=0)
    assert tallies.opt_outs([lst.id], at("2026-11-01"), at("2026-11-03")) == {
        (lst.id, at("2026-11-02").date(), Reason.DEACTIVATED): 1
    }


def test_a_suspension_moves_every_list_of_its_contact_and_its_end_moves_them_back(
    subscription_factory, list_factory, contact_factory, verizon
):
    first, second = list_factory(), list_factory()
    contact = contact_factory(carrier=verizon)
    subscription_factory(contact=contact, list=first)
    subscription_factory(contact=contact, list=second)
    suspend(number=contact.phone, occurred_at=at("2026-11-01"), source=Source.CARRIER_NOTICE)
    assert totals(first) == totals(second) == tallies.Totals(subscribers=1, suspended=1)
    reactivate(number=contact.phone, occurred_at=at("2026-11-05"), source=Source.CARRIER_NOTICE)
    assert totals(first) == totals(second) == tallies.Totals(subscribers=1, suspended=0)


def test_a_deactivation_during_a_suspension_leaves_neither_count(subscription_factory, contact_factory, verizon):
    sub = subscription_factory(contact=contact_factory(carrier=verizon))
    suspend(number=sub.contact.phone, occurred_at=at("2026-11-01"), source=Source.CARRIER_NOTICE)
    opt_out(number=sub.contact.phone, reason=Reason.DEACTIVATED, source=Source.CARRIER_NOTICE,
            occurred_at=at("2026-11-03"))  # fmt: skip
    assert totals(sub.list) == tallies.Totals(subscribers=0, suspended=0)
    [counts] = list_counts()
    assert (counts.subscribers, counts.suspended, counts.opted_out) == (0, 0, 1)


def test_writes_outside_the_services_are_counted_too(subscription_factory, contact_factory, verizon):
    """The admin, a cascade or a raw update: the database counts them, not the code path."""
    sub = subscription_factory(contact=contact_factory(carrier=verizon))
    Suspension.objects.create(contact=sub.contact, started_at=at("2026-11-01"), expires_at=at("2026-12-01"),
                              source=Source.OPERATOR)  # fmt: skip
    assert totals(sub.list).suspended == 1
    Subscription.objects.filter(pk=sub.pk).update(status=Subscription.Status.OPTED_OUT, opted_out_at=at("2026-11-02"),
                                                  opt_out_reason=Reason.OPERATOR)  # fmt: skip
    assert totals(sub.list) == tallies.Totals(subscribers=0, suspended=0)
    sub.contact.delete()  # cascades to the subscription and the suspension
    assert tallies.opt_outs([sub.list.id], tallies.EARLIEST, tallies.LATEST) == {}


def test_a_new_consent_takes_the_old_opt_out_out_of_its_day(subscription_factory):
    sub = subscription_factory()
    opt_out(number=sub.contact.phone, reason=Reason.STOP, source=Source.OPERATOR, occurred_at=at("2026-11-02"))
    Subscription.objects.filter(pk=sub.pk).update(status=Subscription.Status.OPTED_IN, opted_in_at=at("2026-11-04"),
                                                  opted_out_at=None, opt_out_reason="")  # fmt: skip
    assert tallies.opt_outs([sub.list.id], tallies.EARLIEST, tallies.LATEST) == {}
    assert totals(sub.list).subscribers == 1


def test_any_period_counts_the_same_as_the_rows(subscription_factory, list_factory):
    """Whole days come from the tallies and partial days from the rows; together they equal the rows."""
    lst = list_factory()
    rng = random.Random(7)
    start = at("2026-10-01")
    subs = [subscription_factory(list=lst, opted_in_at=at("2026-01-01")) for _ in range(60)]
    reasons = list(Reason)
    for sub in subs:
        occurred = start + timedelta(minutes=rng.randrange(0, 20 * 24 * 60))
        opt_out(number=sub.contact.phone, reason=rng.choice(reasons), source=Source.OPERATOR, occurred_at=occurred)
    for _ in range(40):
        since = start + timedelta(minutes=rng.randrange(-3000, 20 * 24 * 60))
        until = since + timedelta(minutes=rng.randrange(0, 10 * 24 * 60))
        expected = Subscription.objects.opted_out().filter(list=lst, opted_out_at__gte=since, opted_out_at__lt=until)
        counted = tallies.opt_outs([lst.id], since, until)
        assert sum(counted.values()) == expected.count(), (since, until)
        for reason in reasons:
            by_reason = sum(n for (_, _, r), n in counted.items() if r == reason)
            assert by_reason == expected.filter(opt_out_reason=reason).count(), (since, until, reason)


def test_folding_keeps_the_totals(subscription_factory, list_factory):
    lst = list_factory()
    subs = [subscription_factory(list=lst) for _ in range(5)]
    for i, sub in enumerate(subs[:3]):
        opt_out(number=sub.contact.phone, reason=Reason.PORTING, source=Source.OPERATOR,
                occurred_at=at("2026-11-02") + timedelta(hours=i))  # fmt: skip
    before = (totals(lst), tallies.opt_outs([lst.id], tallies.EARLIEST, tallies.LATEST))
    left = tallies.compact()
    assert left == ListTally.objects.count() + OptOutTally.objects.count()
    assert ListTally.objects.filter(list=lst).count() == 1  # one row per list once folded
    assert OptOutTally.objects.filter(list=lst).count() == 1  # one per list, day and reason
    assert (totals(lst), tallies.opt_outs([lst.id], tallies.EARLIEST, tallies.LATEST)) == before


def test_a_recount_repairs_tallies_written_around(subscription_factory):
    """A flush on SQLite, or any write that bypassed the triggers: rebuild counts them again from the rows."""
    sub = subscription_factory()
    ListTally.objects.filter(list=sub.list).delete()
    OptOutTally.objects.create(list=sub.list, day=at("2026-11-02").date(), reason=Reason.STOP, count=3)
    assert set(tallies.drift()) == {"lists", "opt_outs"}
    tallies.rebuild()
    assert tallies.drift() == {}
    assert totals(sub.list) == tallies.Totals(subscribers=1, suspended=0)
