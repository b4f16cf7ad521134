"""A report's states beyond succeeded and failed (issue 16): held by the guard (R14), released or discarded by
an Admin, a layout not recognised. `services.ingest` calls in here at marked points.
"""

import logging
import statistics
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from contacts import guard
from reports import alerts
from reports.models import DeactivationReport
from reports.reading import NotAReport

log = logging.getLogger(__name__)
Status = DeactivationReport.Status

WAITING_FOR_ADMIN = (Status.HELD, Status.DISCARDED)
ANOMALY_HISTORY = 14  # reports whose invalid share is the norm a new one is held against
ANOMALY_FACTOR = 3
ANOMALY_FLOOR_PERCENT = 1.0  # a share below this is never worth waking anyone for


class NotHeld(Exception):
    """release_report on a report or import that is not waiting for an Admin."""


def check_layout(stats) -> None:
    """Fail the whole report when most rows are invalid: the parser took the wrong columns (R8 is for a few)."""
    limit = settings.REPORT_INVALID_MAX_PERCENT
    if stats.rows and 100 * stats.invalid > limit * stats.rows:
        samples = "; ".join(f"line {s.get('line')}: {s.get('reason')}" for s in stats.samples[:3])
        raise NotAReport(f"layout not recognised: {stats.invalid} of {stats.rows} rows invalid (first: {samples})")


@contextmanager
def applying(report: DeactivationReport) -> Iterator[None]:
    """The apply of one report, with the guard off when an Admin released it.

    On SQLite the apply's own transaction is what shows it alive: it takes the database's write lock when it
    begins (settings: IMMEDIATE) and holds it to the end, so `health.mark_interrupted` cannot even start while
    it runs. A heartbeat written from a second connection cannot work there: it waits for that lock, or, when
    it got in first, makes the apply's first write fail.
    """
    released = guard.released() if report.decided_at is not None else nullcontext()
    with released:
        yield


def mark_held(report: DeactivationReport, held: guard.Held) -> DeactivationReport:
    """Record what the guard stopped (nothing was applied) and tell the on-call engineer."""
    record_hold(DeactivationReport.objects.filter(pk=report.pk), held)
    report.refresh_from_db()
    log.warning("report held report=%s source=%s lists=%d", report.pk, report.source, len(held.hits))
    alerts.report_held(report)
    return report


def record_hold(row: QuerySet, held: guard.Held) -> None:
    """A report's or an import job's row says it is held, which lists it would hit and why (R14)."""
    row.update(status="held", held_lists=held.lists(), error=str(held)[:2000], finished_at=timezone.now())


def waiting(report: DeactivationReport, error: str) -> None:
    """A day its source has not published yet (issue 18): the report waits and says so; no alert, retried later."""
    now = timezone.now()
    log.info("report waiting report=%s source=%s", report.pk, report.source)
    DeactivationReport.objects.filter(pk=report.pk).exclude(status=Status.SUCCEEDED).update(
        status=Status.PENDING, error=f"{error} (checked {now:%Y-%m-%d %H:%M} UTC)"[:2000], finished_at=None
    )


def failed(report: DeactivationReport, error: str) -> None:
    alerts.report_failed(report, error)


def applied(report: DeactivationReport) -> None:
    """After a report applied: alert when its invalid share is far outside the recent norm."""
    if not report.rows:
        return
    share = 100 * report.invalid / report.rows
    recent = (
        DeactivationReport.objects.filter(status=Status.SUCCEEDED, rows__gt=0)
        .exclude(pk=report.pk)
        .order_by("-finished_at")
        .values_list("invalid", "rows")[:ANOMALY_HISTORY]
    )
    shares = [100 * invalid / rows for invalid, rows in recent]
    if len(shares) < 3:
        return  # too few to call anything a norm
    median = statistics.median(shares)
    if share >= ANOMALY_FLOOR_PERCENT and share > ANOMALY_FACTOR * median:
        alerts.invalid_share(report, share, median, len(shares))


def release(report_id: int, *, user=None, now: datetime | None = None) -> DeactivationReport:
    """An Admin's *Apply anyway*: mark the held report released (once, under its row lock), then apply it."""
    from reports import services  # services calls into this module at its marked points

    _decide(report_id, Status.PENDING, user, now)
    report = DeactivationReport.objects.get(pk=report_id)
    result = services.ingest(report)
    result.report.refresh_from_db()
    log.info("report released report=%s by=%s applied=%s", report_id, getattr(user, "pk", None), result.applied)
    return result.report


def discard(report_id: int, *, user=None, now: datetime | None = None) -> DeactivationReport:
    """An Admin's *Discard*: the held report is never applied and stays on record."""
    _decide(report_id, Status.DISCARDED, user, now)
    log.info("report discarded report=%s by=%s", report_id, getattr(user, "pk", None))
    return DeactivationReport.objects.get(pk=report_id)


def _decide(report_id: int, status: str, user, now: datetime | None) -> None:
    # One conditional UPDATE: under two concurrent releases the second finds the row no longer held (R6).
    with transaction.atomic():
        # A report being applied keeps its row locked: answer now rather than wait for the apply to end.
        row = DeactivationReport.objects.select_for_update(skip_locked=True).filter(pk=report_id).first()
        if row is None:
            if DeactivationReport.objects.filter(pk=report_id).exists():
                raise NotHeld(f"report {report_id} is being applied right now, not held; nothing changed")
            raise NotHeld(f"no report {report_id}")
        if row.status != Status.HELD:
            raise NotHeld(f"report {report_id} is {row.status}, not held; nothing changed")
        claimed = DeactivationReport.objects.filter(pk=report_id, status=Status.HELD).update(
            status=status, decided_by=user if getattr(user, "pk", None) else None, decided_at=now or timezone.now()
        )
        if not claimed:  # SQLite: another release changed it between our read and our write
            raise NotHeld(f"report {report_id} is no longer held; nothing changed")
