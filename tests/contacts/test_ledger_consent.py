"""R13: an opt-in whose consent is on or before a known deactivation of the number is refused, whatever the
path (the set-based opt-in service, the CSV import, the operator command); one dated after it stands."""

import io
from datetime import date

import pytest

from django.core.management import call_command

from contacts import ledger
from contacts.consent import OptIn, apply_opt_ins, opt_in
from contacts.models import Contact, Source, Subscription
from reports.models import Channel
from reports.notices import NoticeIntake
from tests.factories import SubscriberListFactory, SubscriptionFactory, at
from tests.support.ledger import apply_report
from transfers.resources import SubscriptionImport

pytestmark = pytest.mark.django_db
NUMBER = "+12025550143"
DEACTIVATED = date(2026, 3, 1)


@pytest.fixture(params=["recent", "folded"])
def known(request):
    """The number is in a report (not a contact, never opted in here) as deactivated on 1 March; read from
    the ledger's recent tier, or from the ledger proper once folded."""
    apply_report(("(202) 555-0143", DEACTIVATED))
    if request.param == "folded":
        ledger.fold()


def test_r13_a_consent_before_a_known_deactivation_is_refused_and_creates_nothing(known):
    lst = SubscriberListFactory()
    result = opt_in(number="2025550143", subscriber_list=lst, opted_in_at=at("2026-02-01"))
    assert (result.refused, result.created, result.contacts_created) == (1, 0, 0)
    assert result.refused_samples == [{"line": 1, "reason": "number deactivated on 2026-03-01, after this consent"}]
    assert not Contact.objects.filter(phone=NUMBER).exists()


def test_r13_a_consent_on_the_day_of_the_deactivation_is_refused(known):
    # A report gives only the day: a consent that same day may still be the previous owner's.
    result = opt_in(number=NUMBER, subscriber_list=SubscriberListFactory(), opted_in_at=at("2026-03-01T23:59:59"))
    assert result.refused == 1


def test_r13_a_consent_after_the_deactivation_is_a_new_consent_and_stands(known):
    result = opt_in(number="+1 202-555-0143", subscriber_list=SubscriberListFactory(), opted_in_at=at("2026-03-02"))
    assert (result.refused, result.created) == (0, 1)
    assert Subscription.objects.get().contact.phone == NUMBER


def test_r13_an_existing_subscription_cannot_be_renewed_with_a_consent_before_the_deactivation():
    sub = SubscriptionFactory(contact__phone="+12025550150", opted_in_at=at("2026-01-01"))
    apply_report(("+12025550150", DEACTIVATED))  # opts it out (R1) and records it (R13)
    again = opt_in(number=sub.contact.phone, subscriber_list=SubscriberListFactory(), opted_in_at=at("2026-02-15"))
    assert (again.refused, again.created) == (1, 0)


def test_r13_a_number_deactivated_twice_voids_every_consent_before_the_second_time(known):
    apply_report((NUMBER, date(2026, 9, 1)))
    lst = SubscriberListFactory()
    between = apply_opt_ins([OptIn(NUMBER, lst.pk, at("2026-05-01"))], source=Source.IMPORT)
    assert between.refused_samples[0]["reason"] == "number deactivated on 2026-09-01, after this consent"
    after = apply_opt_ins([OptIn(NUMBER, lst.pk, at("2026-09-02"))], source=Source.IMPORT)
    assert (after.refused, after.created) == (0, 1)


def test_r13_in_a_batch_only_the_void_consents_are_refused_and_named_by_line(known):
    lst = SubscriberListFactory()
    batch = [OptIn("+12025550160", lst.pk, at("2026-01-01"), line=2), OptIn(NUMBER, lst.pk, at("2026-01-01"), line=3)]
    result = apply_opt_ins(batch, source=Source.IMPORT)
    assert (result.rows, result.created, result.refused, result.unchanged) == (2, 1, 1, 0)
    assert [sample["line"] for sample in result.refused_samples] == [3]


def test_r13_the_csv_import_refuses_a_void_consent_with_the_reason(known):
    lst = SubscriberListFactory(sender_code__code="45678", name="Flash")
    file = io.BytesIO(f"phone,sender_code,list,opted_in_at\n(202) 555-0143,45678,{lst.name},2026-02-01\n".encode())
    summary = SubscriptionImport().run(file, dry_run=False)
    assert (summary.invalid, summary.created) == (1, 0)
    assert summary.samples == [{"line": 2, "reason": "number deactivated on 2026-03-01, after this consent"}]


def test_r13_the_import_command_refuses_a_void_consent(known, tmp_path):
    SubscriberListFactory(sender_code__code="45678", name="Flash")
    path = tmp_path / "old-list.csv"
    path.write_text("phone,sender_code,list,opted_in_at\n+12025550143,45678,Flash,2025-12-01\n")
    call_command("import_subscriptions", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Subscription.objects.exists()


def test_r13_a_notice_deactivation_voids_earlier_consents_and_a_reactivation_does_not_undo_it():
    notices = NoticeIntake(channel=Channel.API)
    notices.ingest_items([{"phone": NUMBER, "carrier": "Verizon", "event": "disconnected",
                           "occurred_at": "2026-04-10T15:00:00Z"}])  # fmt: skip
    NoticeIntake(channel=Channel.API).ingest_items(
        [{"phone": NUMBER, "carrier": "Verizon", "event": "reactivated", "occurred_at": "2026-04-20"}]
    )
    result = opt_in(number=NUMBER, subscriber_list=SubscriberListFactory(), opted_in_at=at("2026-04-01"))
    assert result.refused_samples[0]["reason"] == "number deactivated on 2026-04-10, after this consent"
