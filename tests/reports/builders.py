"""Report files, keys and subscribers for the reports tests, dated relative to today like the real bucket."""

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from contacts.models import Contact, OptOutEvent, SubscriberList, Subscription
from reports import services
from reports.models import DeactivationReport
from tests.factories import ContactFactory, SubscriberListFactory, SubscriptionFactory

US = "sms-deact-reports/us"
LATEST_KEY = f"{US}/latest-deact-report.csv"
TODAY = timezone.now().date()
DAY = TODAY - timedelta(days=3)
CONSENT = TODAY - timedelta(days=60)
A, B, C = "+12025550143", "+12025550144", "+12025550145"
# US area codes phonenumbers takes as valid, for making many distinct numbers.
AREA_CODES = ("202", "212", "213", "305", "312", "404", "415", "503", "617", "702", "713", "718")
EXCHANGES = [exchange for exchange in range(200, 1000) if exchange % 100 != 11]  # N11 (411, 911…) never are


def dated_key(day: date) -> str:
    return f"{US}/{day.isoformat()}-deact-report.csv"


def at(day: date) -> datetime:
    """00:00 UTC on `day`: how a date alone is read (DESIGN.md)."""
    return datetime.combine(day, time(), tzinfo=UTC)


def report_csv(*rows: tuple[str, date]) -> bytes:
    """An AWS-like report: a header, then number and deactivation date."""
    return b"phone_number,deactivation_date\n" + b"".join(f"{n},{d.isoformat()}\n".encode() for n, d in rows)


def upload(body: bytes, *, name: str = "report.csv", report_date: date | None = None) -> DeactivationReport:
    return services.report_for_upload(io.BytesIO(body), file_name=name, report_date=report_date)


def subscribed(phone: str, *, opted_in: date = CONSENT) -> Subscription:
    return SubscriptionFactory(contact=ContactFactory(phone=phone), opted_in_at=at(opted_in))


def publish_with_subscriber(bucket, body: bytes) -> Subscription:
    """`body` as the report of DAY under its dated key and as `latest`, and A subscribed to be opted out by it."""
    sub = subscribed(A)
    bucket.put(dated_key(DAY), body)
    bucket.put(LATEST_KEY, body)
    return sub


def opted_out(*subs: Subscription) -> list[bool]:
    for sub in subs:
        sub.refresh_from_db()
    return [sub.status == Subscription.Status.OPTED_OUT for sub in subs]


def snapshot() -> tuple[list, int]:
    """Every subscription's consent state and the number of opt-out events."""
    subs = list(Subscription.objects.order_by("pk").values_list("pk", "status", "opted_out_at", "opt_out_event_id"))
    return subs, OptOutEvent.objects.count()


def numbers(count: int, *, start: int = 0) -> Iterator[str]:
    """`count` distinct valid US numbers in E.164; different `start`s give different numbers."""
    for n in range(start, start + count):
        block, line = divmod(n // len(AREA_CODES), 10_000)
        yield f"+1{AREA_CODES[n % len(AREA_CODES)]}{EXCHANGES[block]}{line:04d}"


def subscribe_many(phones: list[str], *, lists: int = 2, opted_in: date = CONSENT) -> list[SubscriberList]:
    """Each number opted in to `lists` lists, each of its own sender code, in two bulk statements."""
    targets = [SubscriberListFactory() for _ in range(lists)]
    contacts = Contact.objects.bulk_create([Contact(phone=phone) for phone in phones])
    Subscription.objects.bulk_create(
        [Subscription(contact=c, list=lst, opted_in_at=at(opted_in)) for c in contacts for lst in targets]
    )
    return targets
