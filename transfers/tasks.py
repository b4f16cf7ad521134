from celery import shared_task

from transfers import services
from transfers.models import ImportJob


@shared_task(acks_late=True)
def validate_import(job_id: int) -> str:
    """Preview a big upload (a dry run) and keep its counts on the job."""
    return services.validate(ImportJob.objects.get(pk=job_id)).status


@shared_task(acks_late=True)
def apply_import(job_id: int) -> dict:
    """Apply a confirmed upload in one transaction; run twice, it applies once."""
    return services.apply(job_id).result
