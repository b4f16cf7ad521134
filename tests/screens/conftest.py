"""A small SMS program for the screens: two sender codes, opt-outs of every kind, one suspension, staff per group."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from django.contrib.auth.models import Group, User
from django.utils import timezone

from contacts.models import Carrier, Contact, Reason, SenderCode, Source, SubscriberList, Subscription
from contacts.services import opt_out, suspend
from tests.factories import ContactFactory, SenderCodeFactory, SubscriberListFactory, SubscriptionFactory

ROLES = ["Viewer", "Operator", "Admin"]


@dataclass
class Program:
    now: datetime
    short: SenderCode
    toll_free: SenderCode
    flash: SubscriberList
    digest: SubscriberList
    billing: SubscriberList
    deactivated: Contact  # on both lists of the short code and on billing: opted out everywhere (R1)
    stopped: Contact  # STOP on the short code only (R2)
    suspended: Contact  # Verizon, paused: opted in but not sendable (R5)
    sendable: Contact
    ported: Contact  # porting, on the toll-free code's list only


def days_ago(now: datetime, days: float) -> datetime:
    return (now - timedelta(days=days)).replace(microsecond=0)


@pytest.fixture
def program(db) -> Program:
    now = timezone.now()
    long_ago = days_ago(now, 400)
    short = SenderCodeFactory(code="45678", name="Acme Alerts")
    toll_free = SenderCodeFactory(code="+18885550100", kind=SenderCode.Kind.TOLL_FREE, name="Acme Care")
    flash = SubscriberListFactory(sender_code=short, name="Flash Sales")
    digest = SubscriberListFactory(sender_code=short, name="Weekly Digest")
    billing = SubscriberListFactory(sender_code=toll_free, name="Billing")
    verizon = Carrier.objects.get(name="Verizon")

    def subscribed(phone: str, *lists: SubscriberList, **contact) -> Contact:
        person = ContactFactory(phone=phone, **contact)
        for subscriber_list in lists:
            SubscriptionFactory(contact=person, list=subscriber_list, opted_in_at=long_ago)
        return person

    deactivated = subscribed("+12025550101", flash, digest, billing, email="one@example.com")
    stopped = subscribed("+12025550102", flash)
    suspended = subscribed("+12025550103", flash, carrier=verizon)
    sendable = subscribed("+12025550104", flash, digest, email="four@example.com")
    ported = subscribed("+12025550105", billing)

    opt_out(number=deactivated.phone, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
            occurred_at=days_ago(now, 3))  # fmt: skip
    opt_out(number=stopped.phone, reason=Reason.STOP, source=Source.DELIVERY_RECEIPT, occurred_at=days_ago(now, 10),
            sender_code=short, error_code=603)  # fmt: skip
    opt_out(number=ported.phone, reason=Reason.PORTING, source=Source.CARRIER_NOTICE, occurred_at=days_ago(now, 45))
    suspend(number=suspended.phone, occurred_at=days_ago(now, 2), source=Source.CARRIER_NOTICE)
    return Program(now, short, toll_free, flash, digest, billing, deactivated, stopped, suspended, sendable, ported)


def staff_in(group: str | None, username: str | None = None) -> User:
    """A staff user in one of the migration's groups (None: staff with no group at all)."""
    user = User.objects.create_user(username or f"staff-{group or 'none'}".lower(), password="a-long-password-1",
                                    is_staff=True)  # fmt: skip
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def as_role(client, db):
    """Log the test client in as a member of a group; 'anonymous' stays logged out."""

    def login(role: str):
        if role == "superuser":
            client.force_login(User.objects.create_superuser("root", password="a-long-password-1"))
        elif role != "anonymous":
            client.force_login(staff_in(role))
        return client

    return login


@pytest.fixture
def operator_client(as_role):
    return as_role("Operator")


@pytest.fixture
def viewer_client(as_role):
    return as_role("Viewer")


def opted_out_many(subscriber_list: SubscriberList, count: int, now: datetime, *, start: int = 0) -> None:
    """`count` opted-out subscriptions, straight into the tables: pagination and query-count tests need bulk."""
    people = Contact.objects.bulk_create(Contact(phone=f"+1303555{start + i:04d}") for i in range(count))
    people = Contact.objects.filter(phone__in=[p.phone for p in people])
    Subscription.objects.bulk_create(
        Subscription(contact=person, list=subscriber_list, opted_in_at=days_ago(now, 400),
                     status=Subscription.Status.OPTED_OUT, opted_out_at=days_ago(now, 1 + i % 7),
                     opt_out_reason=Reason.DISCONNECTED)
        for i, person in enumerate(people)
    )  # fmt: skip
