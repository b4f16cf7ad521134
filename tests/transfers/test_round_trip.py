"""Export, then import into an empty database: the same sender codes, lists and subscription states."""

import io

import pytest

from contacts.models import Carrier, Contact, OptOutEvent, Reason, SenderCode, Source, SubscriberList, Subscription
from contacts.services import opt_out
from tests.factories import ContactFactory, SenderCodeFactory, SubscriberListFactory, SubscriptionFactory, at
from transfers.resources import OptOutEventExport, OptOutImport, SubscriptionExport, SubscriptionImport

pytestmark = pytest.mark.django_db


def states() -> set[tuple]:
    return set(
        Subscription.objects.values_list(
            "contact__phone", "contact__email", "contact__carrier__name", "list__sender_code__code", "list__name",
            "status", "opted_in_at", "opted_out_at", "opt_out_reason",
        )
    )  # fmt: skip


def exported(resource) -> bytes:
    return b"".join(resource.export().stream())


def test_export_then_import_into_an_empty_database_gives_the_same_lists_and_states():
    short = SenderCodeFactory(code="45678")
    toll_free = SenderCodeFactory(code="+18885550100", kind=SenderCode.Kind.TOLL_FREE)
    flash = SubscriberListFactory(sender_code=short, name="Flash")
    digest = SubscriberListFactory(sender_code=short, name="Digest")
    billing = SubscriberListFactory(sender_code=toll_free, name="=Billing")  # a formula-like name is data
    verizon = Carrier.objects.get(name="Verizon")
    people = [ContactFactory(phone=f"+1202555{n:04d}", email=f"p{n}@example.com" if n % 2 else "",
                             carrier=verizon if n % 3 else None) for n in range(100, 130)]  # fmt: skip
    for n, person in enumerate(people):
        for i, lst in enumerate((flash, digest, billing)):
            if (n + i) % 2:
                SubscriptionFactory(contact=person, list=lst, opted_in_at=at(f"2026-01-{1 + n % 20:02d}T10:00:00"))
    opt_out(number=people[1].phone, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
            occurred_at=at("2026-02-01"))  # fmt: skip
    opt_out(number=people[2].phone, reason=Reason.STOP, source=Source.DELIVERY_RECEIPT, occurred_at=at("2026-02-02"),
            sender_code=short, error_code=603)  # fmt: skip
    opt_out(number=people[3].phone, reason=Reason.OPERATOR, source=Source.OPERATOR, occurred_at=at("2026-02-03"),
            sender_code=toll_free)  # fmt: skip
    # Opted out, then opted in again after it (R4): the later consent stands.
    opt_out(number=people[4].phone, reason=Reason.PORTING, source=Source.CARRIER_NOTICE, occurred_at=at("2026-01-02"))
    SubscriptionImport().run(io.BytesIO(f"phone,sender_code,list,opted_in_at\n{people[4].phone},45678,Digest,"
                                        "2026-03-01\n".encode()), dry_run=False)  # fmt: skip
    before = states()
    assert {s[5] for s in before} == {"opted_in", "opted_out"}
    subscriptions, events = exported(SubscriptionExport()), exported(OptOutEventExport())

    Subscription.objects.all().delete()
    OptOutEvent.objects.all()._raw_delete(OptOutEvent.objects.db)  # an empty database: the record goes too
    Contact.objects.all().delete()
    SubscriberList.objects.all().delete()
    SenderCode.objects.all().delete()

    added = SubscriptionImport(create_lists=True).run(io.BytesIO(subscriptions), dry_run=False)
    out = OptOutImport().run(io.BytesIO(events), dry_run=False)

    assert (added.invalid, out.invalid) == (0, 0)
    assert states() == before
    assert sorted(SenderCode.objects.values_list("code", "kind")) == [("+18885550100", "toll_free"),
                                                                      ("45678", "short_code")]  # fmt: skip
