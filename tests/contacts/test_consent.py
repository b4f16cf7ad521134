"""R4: an opted-out number stays out until a new, explicit opt-in with its own timestamp."""

from contacts.consent import OptIn, apply_opt_ins, opt_in
from contacts.models import Contact, Reason, Source, Subscription
from contacts.services import opt_out, reactivate
from tests.factories import at


def test_opt_in_creates_the_contact_and_subscription_in_e164(list_factory):
    lst = list_factory()
    result = opt_in(number="(202) 555-0143", subscriber_list=lst, opted_in_at=at("2026-11-01"))
    assert (result.contacts_created, result.created) == (1, 1)
    sub = Subscription.objects.get()
    assert (sub.contact.phone, sub.list, sub.is_opted_in, sub.opted_in_at) == (
        "+12025550143", lst, True, at("2026-11-01"),
    )  # fmt: skip


def test_r4_opted_out_number_stays_out_without_a_new_opt_in(subscription_factory):
    sub = subscription_factory(opted_in_at=at("2026-01-01"))
    opt_out(number=sub.contact.phone, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
            occurred_at=at("2026-11-01"))  # fmt: skip
    # A reactivation notice or an old consent replayed does not bring it back.
    reactivate(number=sub.contact.phone, occurred_at=at("2026-11-05"), source=Source.CARRIER_NOTICE)
    result = opt_in(number=sub.contact.phone, subscriber_list=sub.list, opted_in_at=at("2026-01-01"))
    sub.refresh_from_db()
    assert not sub.is_opted_in
    assert result.refused == 1
    assert "opted out (deactivated) after this consent" in result.refused_samples[0]["reason"]


def test_r4_a_new_consent_after_the_opt_out_starts_a_new_subscription_period(subscription_factory):
    sub = subscription_factory(opted_in_at=at("2026-01-01"))
    opt_out(number=sub.contact.phone, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
            occurred_at=at("2026-11-01"))  # fmt: skip
    result = opt_in(number=sub.contact.phone, subscriber_list=sub.list, opted_in_at=at("2026-11-10"))
    sub.refresh_from_db()
    assert result.reopted == 1
    assert sub.is_opted_in
    assert (sub.opted_in_at, sub.opted_out_at, sub.opt_out_reason) == (at("2026-11-10"), None, "")
    # The history stays: the old opt-out event is still there.
    assert sub.contact.opt_out_events.count() == 1


def test_r4_the_new_owner_is_not_opted_out_again_by_the_old_owners_deactivation(subscription_factory):
    sub = subscription_factory(opted_in_at=at("2026-01-01"))
    deactivation = dict(number=sub.contact.phone, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
                        occurred_at=at("2026-11-01"))  # fmt: skip
    opt_out(**deactivation)
    opt_in(number=sub.contact.phone, subscriber_list=sub.list, opted_in_at=at("2026-11-10"))
    replay = opt_out(**deactivation)  # the same report ingested again
    sub.refresh_from_db()
    assert sub.is_opted_in
    assert replay.stale == 1


def test_consent_renewal_moves_the_timestamp_forward_only(subscription_factory):
    sub = subscription_factory(opted_in_at=at("2026-06-01"))
    older = opt_in(number=sub.contact.phone, subscriber_list=sub.list, opted_in_at=at("2026-01-01"))
    newer = opt_in(number=sub.contact.phone, subscriber_list=sub.list, opted_in_at=at("2026-07-01"))
    sub.refresh_from_db()
    assert (older.unchanged, newer.renewed) == (1, 1)
    assert sub.opted_in_at == at("2026-07-01")


def test_a_batch_keeps_the_newest_consent_per_number_and_list(list_factory):
    lst = list_factory()
    result = apply_opt_ins(
        [OptIn("+12025550143", lst.pk, at("2026-01-01")), OptIn("+12025550143", lst.pk, at("2026-03-01")),
         OptIn("+12025550144", lst.pk, at("2026-02-01"), email="a@example.com")],
        source=Source.IMPORT,
    )  # fmt: skip
    assert (result.rows, result.duplicates, result.created, result.contacts_created) == (3, 1, 2, 2)
    assert Subscription.objects.get(contact__phone="+12025550143").opted_in_at == at("2026-03-01")
    assert Contact.objects.get(phone="+12025550144").email == "a@example.com"


def test_r6_replaying_an_import_changes_nothing(list_factory):
    lst = list_factory()
    batch = [OptIn(f"+1202555{n:04d}", lst.pk, at("2026-01-01")) for n in range(50)]
    first = apply_opt_ins(batch, source=Source.IMPORT)
    again = apply_opt_ins(batch, source=Source.IMPORT)
    assert (first.created, again.created, again.unchanged) == (50, 0, 50)
    assert Subscription.objects.count() == 50
