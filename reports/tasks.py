from celery import shared_task

from reports import s3, services
from reports.models import DeactivationReport


@shared_task(acks_late=True, autoretry_for=(s3.ReportNotPublished,), retry_backoff=600, retry_backoff_max=3600,
             max_retries=12)  # fmt: skip
def ingest_latest_report() -> dict[str, int]:
    """Fetch today's deactivation report and apply it; retried while it is not published yet."""
    return services.fetch_latest().counts()


@shared_task(acks_late=True)
def backfill_reports() -> int:
    """Apply every dated report of the last 90 days not applied yet, oldest first; returns how many applied."""
    return sum(result.applied for result in services.backfill())


@shared_task(acks_late=True)
def ingest_report(report_id: int) -> dict[str, int]:
    """Apply one stored report (an upload) by id."""
    return services.ingest(DeactivationReport.objects.get(pk=report_id)).counts()
