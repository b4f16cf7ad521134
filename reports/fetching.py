"""Fetch deactivation reports from any source: the latest, one day's, or a backfill (issue 18).

AWS resolves files in its bucket (reports.services). Twilio and an HTTP feed serve one file a day, so their
report is found by (source, day) before anything is asked of the provider: a day already applied makes no
request at all, and asking again names the same report (R6). Every source then goes through the same
`services.ingest`: parsing, staging, the rules, the guard (R14) and the ledger.
"""

import logging
from collections.abc import Iterator
from datetime import date

from django.utils import timezone

from reports import services, sources
from reports.models import DeactivationReport
from reports.services import ALREADY_APPLIED, IngestResult, ProgressFor

log = logging.getLogger(__name__)
Status = DeactivationReport.Status


def fetch_latest(source: str = "aws", *, progress_for: ProgressFor | None = None) -> IngestResult:
    """The source's newest report, applied once: AWS's `latest`, or a daily file's yesterday."""
    if source == "aws":
        return services.fetch_latest(progress_for=progress_for)
    feed = _daily(source)
    return _fetch_day(feed, feed.latest_day(timezone.now().date()), progress_for)


def fetch_dated(source: str, day: date, *, progress_for: ProgressFor | None = None) -> IngestResult:
    """The source's report of one day, applied once."""
    if source == "aws":
        return services.fetch_dated(day, progress_for=progress_for)
    return _fetch_day(_daily(source), day, progress_for)


def backfill(
    source: str = "aws", *, today: date | None = None, progress_for: ProgressFor | None = None
) -> Iterator[IngestResult]:
    """Every report the source keeps and we have not applied, oldest first. A failed or unpublished day stops
    nothing; refused credentials or a provider that keeps failing stop the rest (raised after its result)."""
    if source == "aws":
        yield from services.backfill(today=today, progress_for=progress_for)
        return
    feed = _daily(source)
    feed.require_configured()
    today = today or timezone.now().date()
    for day in feed.backfill_days(today):
        report = report_for_day(feed, day)
        if report.status == Status.SUCCEEDED:
            yield IngestResult(report, False, ALREADY_APPLIED)
            continue
        try:
            yield services.ingest(report, progress=progress_for(report) if progress_for else None, today=today)
        except sources.NotReady as exc:
            report.refresh_from_db()
            yield IngestResult(report, False, str(exc))
        except (services.ReportFailed, sources.Unavailable) as exc:
            report.refresh_from_db()
            yield IngestResult(report, False, str(exc))
            cause = exc.__cause__ if isinstance(exc, services.ReportFailed) else exc
            # Every other day would get the same answer: one request is enough (issue 18).
            if isinstance(cause, (sources.AccessDenied, sources.Unavailable)):
                raise type(cause)(str(cause)) from None


def report_for_day(feed: sources.DailyFileSource, day: date) -> DeactivationReport:
    """The report row of a source's day: made once, found again whatever happened to it since (R6)."""
    report, _ = DeactivationReport.objects.get_or_create(
        fingerprint=feed.fingerprint(day),
        defaults={"origin": feed.origin, "key": feed.location(day)[:500], "report_date": day},
    )
    return report


def _fetch_day(feed: sources.DailyFileSource, day: date, progress_for: ProgressFor | None) -> IngestResult:
    feed.require_configured()  # before a row exists: an unconfigured source leaves nothing behind
    report = report_for_day(feed, day)
    return services.ingest(report, progress=progress_for(report) if progress_for else None)


def _daily(name: str) -> sources.DailyFileSource:
    source = sources.get(name)
    assert isinstance(source, sources.DailyFileSource), name
    return source
