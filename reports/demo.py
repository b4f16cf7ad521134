"""Demo deactivation reports, one in each state, made by the real pipeline from files written here:
a new user sees the reports list, a bad layout failing whole, and the mass opt-out guard at work (R14)."""

import io
import random
from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from contacts.models import SubscriberList, Subscription
from reports import services
from reports.models import DeactivationReport

SEED = 20260102
HELD_SHARE = 0.3  # of the biggest list: far above the guard's 5%


def load() -> dict[str, str]:
    """Ingest three demo files; returns each report's status by name."""
    rng = random.Random(SEED)
    today = timezone.now().date()
    opted_in = Subscription.objects.filter(status=Subscription.Status.OPTED_IN)
    biggest = (SubscriberList.objects.annotate(n=Count("subscriptions", filter=Q(subscriptions__status="opted_in")))
               .order_by("-n").first())  # fmt: skip
    members = sorted(opted_in.filter(list=biggest).values_list("contact__phone", flat=True))
    others = sorted(set(opted_in.exclude(list=biggest).values_list("contact__phone", flat=True)) - set(members))
    day = today - timedelta(days=1)
    # A provider's daily file: a few of our numbers among many strangers', and two unreadable rows (R8).
    strangers = [f"+1{rng.choice(['202', '305', '415'])}555{n:04d}" for n in rng.sample(range(200, 9999), 120)]
    daily = [*rng.sample(others, min(12, len(others))), *strangers]
    succeeded = _csv(daily, day) + "202-555-01,2026-01-01\n+1 (415) 555-0199,someday\n"
    # A file that would opt out a third of a list: held until an Admin decides.
    held = _csv(rng.sample(members, int(len(members) * HELD_SHARE)), day)
    # The layout that was once tried: pipes, an action code, 14-digit timestamps. Every row invalid.
    failed = "msisdn|action|timestamp\n" + "".join(f"{n[1:]}|D|{day:%Y%m%d}101500\n" for n in strangers[:40])
    results = {}
    for name, body in (("demo-daily.csv", succeeded), ("demo-too-many.csv", held), ("demo-pipes.csv", failed)):
        report = services.report_for_upload(io.BytesIO(body.encode()), file_name=name, report_date=day)
        try:
            report = services.ingest(report).report
        except services.ReportFailed:
            report.refresh_from_db()
        results[name] = report.status
    return results


def _csv(numbers: list[str], day) -> str:
    return "phone_number,deactivation_date\n" + "".join(f"{n},{day.isoformat()}\n" for n in numbers)


def loaded() -> bool:
    return DeactivationReport.objects.filter(file_name__startswith="demo-").exists()
