from celery import shared_task

from django.db import InterfaceError, OperationalError

from reports import fetching, health, services, sources
from reports.models import DeactivationReport

# Worth another try: the database connection dropped (the transaction rolled back, R9), or a source (S3, Twilio,
# an HTTP feed) failed for now. Django opens a new connection for the retry: the worker closes unusable ones
# before each task.
TRANSIENT = (OperationalError, InterfaceError, sources.Unavailable)


@shared_task(acks_late=True, autoretry_for=(sources.NotPublished, *TRANSIENT), retry_backoff=600,
             retry_backoff_max=3600, max_retries=12)  # fmt: skip
def ingest_latest_report(source: str = "aws") -> dict[str, int]:
    """Fetch a source's newest deactivation report and apply it; retried while it is not published yet or the
    source is failing."""
    return fetching.fetch_latest(source).counts()


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=600, retry_backoff_max=3600, max_retries=12)
def backfill_reports(source: str = "aws") -> int:
    """Apply every report a source keeps that is not applied yet, oldest first; returns how many applied."""
    return sum(result.applied for result in fetching.backfill(source))


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=5, retry_jitter=False, max_retries=5)
def ingest_report(report_id: int) -> dict[str, int]:
    """Apply one stored report (an upload) by id; retried when the database connection drops."""
    return services.ingest(DeactivationReport.objects.get(pk=report_id)).counts()


@shared_task
def watch_ingestion() -> list[int]:
    """Every minute: mark reports whose worker died as interrupted, and queue them to be tried again."""
    health.mark_interrupted()
    retried = health.retry_interrupted()
    for report_id in retried:
        ingest_report.delay(report_id)
    return retried


@shared_task
def check_ingestion_freshness() -> bool:
    """Every hour: alert (once a day for the same state) when no report of a source succeeded lately."""
    return health.alert_if_stale().ok
