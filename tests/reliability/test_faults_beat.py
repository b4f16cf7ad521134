"""Two `celery beat` processes at once (a misconfigured deploy) both send the report ingestion to a pool of
two worker processes: the report is applied once (R6: one row per file, its row lock taken with
skip_locked, a second run finds it busy or already applied)."""

import re

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from contacts.models import OptOutEvent, Subscription
from reports.models import DeactivationReport
from tests.reliability import faults_support
from tests.reliability.faults_support import wait_until
from tests.reports import conftest as s3_fixtures
from tests.reports.builders import DAY, LATEST_KEY, dated_key, numbers, report_csv, subscribe_many

broker, celery_processes = faults_support.broker, faults_support.celery_processes
moto_server, moto_client, s3_proxy, s3_reports = (s3_fixtures.moto_server, s3_fixtures.moto_client,
                                                  s3_fixtures.s3_proxy, s3_fixtures.s3_reports)  # fmt: skip

committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the processes see commits only

SENT = re.compile(r"Sending due task .*\(reports\.tasks\.ingest_latest_report\)")
DONE = re.compile(r"Task reports\.tasks\.ingest_latest_report\[[-0-9a-f]+\] succeeded")


def count(pattern: re.Pattern, log) -> int:
    return len(pattern.findall(log.read_text())) if log.exists() else 0


@committed
def test_two_beats_sending_the_daily_ingestion_apply_the_report_once(s3_reports, broker, celery_processes):
    phones = list(numbers(30_000))
    subscribe_many(phones[::100])  # 300 subscribers on two lists of two sender codes
    body = report_csv(*((phone, DAY) for phone in phones))
    s3_reports.put(dated_key(DAY), body)
    s3_reports.put(LATEST_KEY, body)
    # The daily job, every second so a test can watch several rounds of it.
    PeriodicTask.objects.update(enabled=False)
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="deactivations, often", task="reports.tasks.ingest_latest_report", interval=every)

    celery_processes.worker(concurrency=2)
    celery_processes.beat("beat-1")
    celery_processes.beat("beat-2")
    logs = [celery_processes.log(name) for name in ("beat-1", "beat-2")]
    worker_log = celery_processes.log("worker")
    wait_until(lambda: all(count(SENT, log) >= 2 for log in logs), what="both beats to send 2 rounds", log=logs[1])
    applied = DeactivationReport.objects.filter(status=DeactivationReport.Status.SUCCEEDED)
    wait_until(applied.exists, what="the report to be applied", log=worker_log)
    finished = count(DONE, worker_log)
    wait_until(lambda: count(DONE, worker_log) >= finished + 2, what="two runs after that", log=worker_log)

    report = DeactivationReport.objects.get()
    assert (report.key, report.status) == (dated_key(DAY), DeactivationReport.Status.SUCCEEDED)
    assert report.opted_out == OptOutEvent.objects.count() == Subscription.objects.opted_out().count() == 600
    print(f"two beats: sent={[count(SENT, log) for log in logs]} runs={count(DONE, worker_log)} "
          f"started={report.attempts}")  # fmt: skip
