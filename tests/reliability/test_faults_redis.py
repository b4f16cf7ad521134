"""Redis stopped and started again under a real worker and beat: no queued or running task is lost or applied
twice (acks late, redelivery, idempotent tasks, R6), and beat goes on with its schedule."""

import time
from datetime import timedelta

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from django.utils import timezone

from contacts.models import OptOutEvent, Source, Subscription, Suspension
from reports.models import DeactivationReport
from tests.factories import ContactFactory
from tests.reliability import faults_support
from tests.reliability.faults_support import producer, wait_until
from tests.reports.builders import DAY, numbers, report_csv, subscribe_many, upload

broker, celery_processes = faults_support.broker, faults_support.celery_processes

committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the processes see commits only

ROWS = 3_000  # per report: long enough that the worker is inside one when Redis goes
EVERY = 100  # one number in a hundred is a subscriber's, on two lists of two sender codes


def uploaded_reports(count: int) -> tuple[list[DeactivationReport], int]:
    """`count` reports of distinct numbers; returns them and how many subscriptions they opt out in all."""
    reports, subscribers = [], []
    for n in range(count):
        phones = list(numbers(ROWS, start=n * ROWS))
        subscribers += phones[::EVERY]
        reports.append(upload(report_csv(*((phone, DAY) for phone in phones)), name=f"provider-{n}.csv"))
    subscribe_many(subscribers)
    return reports, 2 * len(subscribers)


def expiring_every_second() -> None:
    """Beat's only job here: expire due suspensions every second (the seeded daily and hourly jobs are off)."""
    PeriodicTask.objects.update(enabled=False)
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="expire every second", task="contacts.tasks.expire_suspensions",
                                interval=every_second)  # fmt: skip


def due_suspension() -> Suspension:
    now = timezone.now()
    return Suspension.objects.create(contact=ContactFactory(), started_at=now - timedelta(days=31),
                                     expires_at=now - timedelta(days=1), source=Source.CARRIER_NOTICE)  # fmt: skip


def ended(suspension: Suspension) -> bool:
    suspension.refresh_from_db()
    return suspension.ended_at is not None


def restart_under_load(broker, celery_processes, *, reports: int, restarts: int) -> dict:
    expiring_every_second()
    uploaded, opt_outs = uploaded_reports(reports)
    worker = celery_processes.worker()
    celery_processes.beat()
    log = celery_processes.log("worker")
    first = due_suspension()
    wait_until(lambda: ended(first), what="beat to run the expiry", log=log)

    client = producer(broker)
    for report in uploaded:
        client.send_task("reports.tasks.ingest_report", args=[report.pk])
    # Down first while the worker is inside a report and others wait in the queue; then every few seconds.
    wait_until(lambda: DeactivationReport.objects.filter(status=DeactivationReport.Status.RUNNING).exists(),
               what="the worker to take a report", log=log)  # fmt: skip
    queued = broker.queued()
    for _ in range(restarts):
        broker.stop()
        time.sleep(2)
        broker.start()
        time.sleep(2)

    def all_applied() -> bool:
        return not DeactivationReport.objects.exclude(status=DeactivationReport.Status.SUCCEEDED).exists()

    wait_until(all_applied, timeout=180, what="every report to be applied", log=log)
    wait_until(lambda: broker.queued() == 0, what="the queue to empty", log=log)
    # Queued after the restart and the drained queue: only beat, still on its schedule, can end this one.
    later = due_suspension()
    wait_until(lambda: ended(later), what="beat to run the expiry after the restart", log=log)

    assert worker.poll() is None
    assert "Connection to broker lost" in log.read_text()  # the outage did reach the worker
    counts = list(DeactivationReport.objects.values_list("opted_out", "attempts"))
    assert sum(opted for opted, _ in counts) == opt_outs
    assert OptOutEvent.objects.count() == Subscription.objects.opted_out().count() == opt_outs
    return {"reports": reports, "queued_at_stop": queued, "attempts": sorted(attempts for _, attempts in counts)}


@committed
def test_redis_restarted_while_tasks_are_queued_and_running_loses_and_repeats_nothing(broker, celery_processes):
    figures = restart_under_load(broker, celery_processes, reports=6, restarts=1)
    assert figures["queued_at_stop"] > 0
    print(f"redis restart: {figures}")


@pytest.mark.slow
@committed
def test_redis_restarted_five_times_under_load(broker, celery_processes):
    figures = restart_under_load(broker, celery_processes, reports=30, restarts=5)
    print(f"redis restarts: {figures}")
