"""`load_demo`: demo data once, through the services, with every reason and some suspensions."""

import io

import pytest

from django.core.management import call_command

from contacts import phones
from contacts.models import CarrierErrorCode, Contact, OptOutEvent, Reason, SenderCode, Subscription
from contacts.services import list_counts

pytestmark = pytest.mark.django_db


def load_demo() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def test_load_demo_loads_once_and_a_second_run_is_a_no_op():
    first = load_demo()
    counts = (Contact.objects.count(), Subscription.objects.count(), OptOutEvent.objects.count())

    assert first.startswith("Demo data loaded: sender_codes=2 lists=5 contacts=3000 ")
    assert len(first.splitlines()) == 1
    assert load_demo().strip() == "Demo data already loaded"
    assert (Contact.objects.count(), Subscription.objects.count(), OptOutEvent.objects.count()) == counts


def test_load_demo_leaves_a_program_with_every_reason_and_suspended_subscribers():
    load_demo()

    assert set(SenderCode.objects.values_list("code", "kind")) == {
        ("45678", SenderCode.Kind.SHORT_CODE),
        ("+18885550100", SenderCode.Kind.TOLL_FREE),
    }
    assert all(phones.normalize(phone) == phone for phone in Contact.objects.values_list("phone", flat=True))
    assert set(Subscription.objects.opted_out().values_list("opt_out_reason", flat=True)) == set(Reason)
    assert set(OptOutEvent.objects.values_list("reason", flat=True)) == set(Reason)
    assert sum(counts.suspended for counts in list_counts()) > 0
    assert all(counts.sendable < counts.subscribers for counts in list_counts())
    # Receipts carry codes from the seeded table; STOP is always 603 (R2).
    seeded = set(CarrierErrorCode.objects.values_list("code", flat=True))
    receipt_codes = set(OptOutEvent.objects.exclude(error_code=None).values_list("error_code", flat=True))
    assert receipt_codes and receipt_codes <= seeded
    assert set(OptOutEvent.objects.filter(reason=Reason.STOP).values_list("error_code", flat=True)) == {603}
