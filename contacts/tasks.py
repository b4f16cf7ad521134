from celery import shared_task

from django.utils import timezone

from contacts import services


@shared_task(acks_late=True)
def expire_suspensions() -> int:
    """End the suspensions whose 30 days are up (R5a); beat runs it hourly."""
    return services.expire_suspensions(now=timezone.now())
