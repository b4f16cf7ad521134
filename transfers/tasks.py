from celery import shared_task

from django.utils import timezone

from transfers import exports, retention, services
from transfers.models import ImportJob


@shared_task(acks_late=True)
def validate_import(job_id: int) -> str:
    """Preview a big upload (a dry run) and keep its counts on the job."""
    return services.validate(ImportJob.objects.get(pk=job_id)).status


@shared_task(acks_late=True)
def apply_import(job_id: int) -> dict:
    """Apply a confirmed upload in one transaction; run twice, it applies once."""
    return services.apply(job_id).result


@shared_task(acks_late=True)
def remove_expired_uploads() -> dict[str, int]:
    """Delete stored upload files older than UPLOAD_RETENTION_DAYS; beat runs it daily."""
    return retention.remove_expired_uploads(now=timezone.now())


@shared_task(acks_late=True)
def write_export(job_id: int) -> str:
    """Write an export too big for a request to its file; its page then offers the download."""
    return exports.write(job_id).status
