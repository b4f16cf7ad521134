"""Is ingestion healthy? Fresh per source, nothing interrupted, and how much is held (issue 16).

One reading feeds `check_ingestion`, `GET /healthz/ingestion`, the admin banner and the hourly alert,
so the four never disagree.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django_celery_beat.models import PeriodicTask

from django.db import OperationalError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from reports import alerts
from reports.models import DeactivationReport
from reports.schedules import source_of

log = logging.getLogger(__name__)
Status = DeactivationReport.Status

MAX_AGE_HOURS = 36.0  # a daily report, plus a morning's retries
# A running report nobody holds is interrupted: no worker holds its row lock (PostgreSQL) or the database's
# write lock (SQLite). The grace covers the moment between marking a report running and locking it.
LOCK_GRACE = timedelta(seconds=30)
RETRIES = 5  # an interrupted report is tried again this many times in all, then left for a person

# Each source and its reports: a source counts while its daily beat task (kwargs {"source": name}; none is
# aws) is enabled. Uploads are no source: nobody promises one a day.
DAILY_TASK = "reports.tasks.ingest_latest_report"
SOURCES = {
    "aws": Q(origin=DeactivationReport.Origin.S3),
    "twilio": Q(origin=DeactivationReport.Origin.TWILIO),
    "http": Q(origin=DeactivationReport.Origin.HTTP),
}


@dataclass
class SourceHealth:
    source: str
    last_success: datetime | None
    last_failure: datetime | None
    max_age: timedelta

    def age(self, now: datetime) -> timedelta | None:
        return now - self.last_success if self.last_success else None

    def stale(self, now: datetime) -> bool:
        age = self.age(now)
        return age is None or age >= self.max_age

    def describe(self, now: datetime) -> str:
        age = self.age(now)
        if age is None:
            return f"{self.source} never succeeded"
        return f"{self.source} age_hours={age.total_seconds() / 3600:.1f}"

    def as_dict(self, now: datetime) -> dict:
        age = self.age(now)
        return {
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_failure": self.last_failure.isoformat() if self.last_failure else None,
            "age_hours": round(age.total_seconds() / 3600, 2) if age is not None else None,
            "stale": self.stale(now),
        }


@dataclass
class IngestionHealth:
    now: datetime
    sources: list[SourceHealth]
    held: int
    interrupted: int
    max_age: timedelta
    stale: list[SourceHealth] = field(init=False)

    def __post_init__(self):
        self.stale = [source for source in self.sources if source.stale(self.now)]

    @property
    def ok(self) -> bool:
        return not self.stale and not self.interrupted

    def line(self) -> str:
        """check_ingestion's one line."""
        hours = self.max_age.total_seconds() / 3600
        parts = [source.describe(self.now) for source in self.sources] or ["no enabled source"]
        state = "ok" if self.ok else ("stale" if self.stale else "interrupted")
        return (f"{state}: {' '.join(parts)} max_age_hours={hours:g} held={self.held} "
                f"interrupted={self.interrupted}")  # fmt: skip

    def as_dict(self) -> dict:
        return {
            "status": "ok" if self.ok else "stale" if self.stale else "interrupted",
            "checked_at": self.now.isoformat(),
            "max_age_hours": self.max_age.total_seconds() / 3600,
            "sources": {source.source: source.as_dict(self.now) for source in self.sources},
            "held": self.held,
            "interrupted": self.interrupted,
        }


def enabled_sources() -> list[str]:
    daily = PeriodicTask.objects.filter(enabled=True, task=DAILY_TASK)
    scheduled = {source_of(kwargs) for kwargs in daily.values_list("kwargs", flat=True)}
    return [source for source in SOURCES if source in scheduled]


def ingestion_health(
    *, now: datetime | None = None, max_age_hours: float = MAX_AGE_HOURS, mark: bool = True
) -> IngestionHealth:
    """Where every enabled source stands now; interrupted reports are found (and marked) on the way unless
    `mark` is off (a page view only reads)."""
    now = now or timezone.now()
    if mark:
        mark_interrupted(now=now)
    max_age = timedelta(hours=max_age_hours)
    sources = []
    for source in enabled_sources():
        of_source = DeactivationReport.objects.filter(SOURCES[source])
        times = of_source.aggregate(
            last_success=Max("finished_at", filter=Q(status=Status.SUCCEEDED)),
            last_failure=Max("finished_at", filter=Q(status=Status.FAILED)),
        )
        sources.append(SourceHealth(source, times["last_success"], times["last_failure"], max_age))
    counts = DeactivationReport.objects.filter(status__in=[Status.HELD, Status.INTERRUPTED])
    held = counts.filter(status=Status.HELD).count()
    interrupted = counts.filter(status=Status.INTERRUPTED).count()
    return IngestionHealth(now, sources, held, interrupted, max_age)


def mark_interrupted(*, now: datetime | None = None) -> list[DeactivationReport]:
    """Running reports no worker holds any more become interrupted (their transaction rolled back, R9)."""
    now = now or timezone.now()
    running = DeactivationReport.objects.filter(status=Status.RUNNING, started_at__lt=now - LOCK_GRACE)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # A worker applying a report holds its row lock until it commits: a row we can lock has none.
                orphans = list(running.select_for_update(skip_locked=True))
            else:
                # This transaction holds SQLite's write lock (IMMEDIATE), which a live apply holds from its
                # first statement to its commit: a report still running now has no worker.
                orphans = list(running)
            ids = [report.pk for report in orphans]
            marked = DeactivationReport.objects.filter(pk__in=ids, status=Status.RUNNING).update(
                status=Status.INTERRUPTED,
                error="interrupted: its worker stopped mid-ingest; nothing was applied and it is retried",
                finished_at=now,
            )
    except OperationalError as exc:
        if connection.vendor == "postgresql":
            raise
        # SQLite: the lock stayed taken past the wait — a report (or an import) is being applied right now.
        log.info("interrupted check skipped: the database is being written error=%s", exc)
        return []
    if marked:
        log.warning("reports interrupted count=%d reports=%s", marked, ",".join(map(str, ids)))
        alerts.interrupted(orphans)
    return orphans


def retry_interrupted() -> list[int]:
    """Ids of the interrupted reports worth another try (fewer than RETRIES attempts so far)."""
    return list(
        DeactivationReport.objects.filter(status=Status.INTERRUPTED, attempts__lt=RETRIES).values_list("pk", flat=True)
    )


def alert_if_stale(*, now: datetime | None = None) -> IngestionHealth:
    """The hourly check: alert (at most once a day for the same stale sources) when ingestion is stale."""
    health = ingestion_health(now=now)
    if health.stale:
        alerts.stale([health.line()], sources=[source.source for source in health.stale], now=health.now)
    return health
