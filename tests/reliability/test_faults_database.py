"""PostgreSQL drops a worker's connection mid-task (pg_terminate_backend, as a failover or an operator does):
the ingest's transaction rolls back whole (R9), the report says why, and the task's retry, on a fresh
connection, applies it once."""

from contextlib import nullcontext

import pytest

from django.db import connection

from contacts.models import OptOutEvent, Subscription
from reports.models import DeactivationReport
from tests.reliability import faults_support
from tests.reliability.faults_support import consent_state, producer, wait_until
from tests.reports.builders import DAY, numbers, report_csv, subscribe_many, upload
from tests.support.backends import loading_rows, subscriptions_frozen, waiting_to_opt_out

broker, celery_processes = faults_support.broker, faults_support.celery_processes

committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the worker sees commits only

CONSENT = ("subscriptions", "events", "suspensions", "tallies")
MOMENTS = {
    # (the moment to drop the connection at, whether subscriptions are held from being written meanwhile)
    "while loading rows": (loading_rows, False),
    "after writing opt-out events, before commit": (waiting_to_opt_out, True),
}


def drop_connection_mid_ingest(broker, celery_processes, moment, freeze) -> DeactivationReport:
    phones = list(numbers(60_000))
    subscribe_many(phones[::100])  # 600 subscribers on two lists of two sender codes
    report = upload(report_csv(*((phone, DAY) for phone in phones)))
    before = consent_state(*CONSENT)
    # Connections kept between tasks, as a deployment may: the retry must not reuse the dropped one.
    celery_processes.env["CONN_MAX_AGE"] = "600"
    celery_processes.worker()
    log = celery_processes.log("worker")

    with subscriptions_frozen() if freeze else nullcontext():
        producer(broker).send_task("reports.tasks.ingest_report", args=[report.pk])
        backend = wait_until(moment, what=moment.__name__, log=log)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])

    def failed() -> bool:
        report.refresh_from_db()
        return report.status == DeactivationReport.Status.FAILED

    wait_until(failed, what="the report to be marked failed", log=log)
    # The driver says "terminating connection…" or "server closed the connection…", whichever it read first.
    assert report.error.startswith("OperationalError: ")
    assert consent_state(*CONSENT) == before  # rolled back whole

    def succeeded() -> bool:
        report.refresh_from_db()
        return report.status == DeactivationReport.Status.SUCCEEDED

    wait_until(succeeded, what="the retry to apply the report", log=log)
    assert "Retry in 5s: OperationalError" in log.read_text()
    assert report.attempts == 2
    assert report.opted_out == OptOutEvent.objects.count() == Subscription.objects.opted_out().count() == 1200
    return report


@committed
def test_a_dropped_connection_while_loading_rows_fails_cleanly_and_the_retry_applies_once(broker, celery_processes):
    drop_connection_mid_ingest(broker, celery_processes, *MOMENTS["while loading rows"])


@pytest.mark.slow
@committed
def test_a_dropped_connection_before_commit_fails_cleanly_and_the_retry_applies_once(broker, celery_processes):
    drop_connection_mid_ingest(broker, celery_processes, *MOMENTS["after writing opt-out events, before commit"])
