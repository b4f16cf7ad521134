from celery import shared_task

from django.utils import timezone

from contacts import ledger, services, tallies


@shared_task(acks_late=True)
def expire_suspensions() -> int:
    """End the suspensions whose 30 days are up (R5a); beat runs it hourly."""
    return services.expire_suspensions(now=timezone.now())


@shared_task(acks_late=True)
def compact_tallies() -> int:
    """Fold the dashboard's tally rows together (contacts.tallies); beat runs it every 10 minutes."""
    return tallies.compact()


@shared_task(acks_late=True)
def prune_ledger() -> int:
    """Delete reassigned-number ledger rows past LEDGER_RETENTION_DAYS; beat runs it daily."""
    return ledger.prune(today=timezone.now().date())


@shared_task(acks_late=True)
def fold_ledger() -> int:
    """Move the ledger's recent rows into the ledger proper (contacts.ledger.fold); beat runs it hourly."""
    return ledger.fold()
