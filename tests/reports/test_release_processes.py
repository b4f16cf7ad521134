"""release_report with real processes: two concurrent releases apply once (R14, R6) on PostgreSQL and SQLite;
a release killed mid-apply is interrupted, then retried with the Admin's decision intact."""

import io
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from django.utils import timezone

from contacts.models import OptOutEvent, Subscription
from reports import health, services
from reports.models import DeactivationReport
from tests.conftest import ROOT, child_env
from tests.reports.builders import DAY, numbers, report_csv, subscribe_many
from tests.support.backends import backend_gone, subscriptions_frozen, wait_until, waiting_to_opt_out

Status = DeactivationReport.Status
committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def release(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "release_report", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def held_report(subscribers: int) -> DeactivationReport:
    phones = list(numbers(subscribers))
    subscribe_many(phones, lists=2)
    body = report_csv(*((phone, DAY) for phone in phones))
    report = services.ingest(services.report_for_upload(io.BytesIO(body), file_name="all.csv",
                                                        report_date=None)).report  # fmt: skip
    assert report.status == Status.HELD
    return report


def outcomes(children: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    finished = [child.communicate(timeout=120) for child in children]
    return sorted((child.returncode, out, err) for child, (out, err) in zip(children, finished, strict=True))


@contextmanager
def release_paused_in_apply(env: dict[str, str], report: DeactivationReport) -> Iterator[tuple[subprocess.Popen, int]]:
    """A release process held inside its apply, just before it opts anyone out: (the process, its backend)."""
    with subscriptions_frozen():
        child = release(env, str(report.pk))
        backend = wait_until(lambda: waiting_to_opt_out() or child.poll() is not None, what="the release to apply")
        assert child.poll() is None, child.communicate()[1][-2000:]
        yield child, backend


@pytest.fixture
def pg_env(postgres, shared_media_root, settings) -> dict[str, str]:
    """Release processes on PostgreSQL, sharing the test's committed data and stored files."""
    settings.MEDIA_ROOT = str(shared_media_root)
    return child_env(MEDIA_ROOT=str(shared_media_root))


@committed
def test_postgresql_two_concurrent_releases_apply_once(pg_env):
    report = held_report(500)

    with release_paused_in_apply(pg_env, report) as (first, _):
        second = release(pg_env, str(report.pk))  # asks while the first applies
        second.wait(timeout=60)
    (ok, out, _), (refused, _, err) = outcomes([first, second])

    assert (ok, refused) == (0, 1)
    assert out.startswith(f"applied: report={report.pk} ") and "opted_out=1000" in out
    assert f"report {report.pk} is " in err and "not held" in err
    assert OptOutEvent.objects.count() == Subscription.objects.opted_out().count() == 1000


def test_sqlite_two_concurrent_releases_apply_once(tmp_path):
    """Two processes on one SQLite file: the write lock serialises them, the conditional claim picks one."""
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "MEDIA_ROOT": str(tmp_path / "media"), "REDIS_URL": "", "LOG_LEVEL": "WARNING"}  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    arrange = textwrap.dedent(
        """
        import io
        from reports import services
        from tests.reports.builders import DAY, numbers, report_csv, subscribe_many
        phones = list(numbers(400))
        subscribe_many(phones, lists=2)
        body = report_csv(*((phone, DAY) for phone in phones))
        upload = services.report_for_upload(io.BytesIO(body), file_name="all.csv", report_date=None)
        print(services.ingest(upload).report.status, upload.pk)
        """
    )
    made = subprocess.run([sys.executable, "manage.py", "shell", "-c", arrange], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    status, report_id = made.stdout.split()[-2:]
    assert status == "held"

    (ok, out, _), (refused, _, err) = outcomes([release(env, report_id), release(env, report_id)])

    assert (ok, refused) == (0, 1), err
    assert out.startswith(f"applied: report={report_id} ") and "opted_out=800" in out
    count = "from contacts.models import OptOutEvent; print(OptOutEvent.objects.count())"
    events = subprocess.run([sys.executable, "manage.py", "shell", "-c", count], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert events.stdout.split()[-1] == "800"


@committed
def test_a_release_killed_mid_apply_is_interrupted_then_retried_as_released(pg_env):
    report = held_report(300)

    with release_paused_in_apply(pg_env, report) as (child, backend):
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    wait_until(lambda: backend_gone(backend), what="PostgreSQL to end the killed session")

    assert health.mark_interrupted(now=timezone.now() + health.LOCK_GRACE) == [report]
    assert OptOutEvent.objects.count() == 0
    # The watch's retry: the Admin's decision is on the row, so the guard lets it through, once.
    assert health.retry_interrupted() == [report.pk]
    result = services.ingest(DeactivationReport.objects.get(pk=report.pk))
    assert result.applied and result.report.status == Status.SUCCEEDED
    assert OptOutEvent.objects.count() == 600


@committed
def test_a_held_report_survives_a_worker_kill_and_is_still_held(pg_env):
    """A worker running the held report's redelivered task (and the watch) over and over is killed -9."""
    report = held_report(300)
    script = (f"from reports import tasks\nwhile True:\n    tasks.ingest_report({report.pk}); tasks.watch_ingestion()"
              "\n    print('round', flush=True)")  # fmt: skip
    worker = subprocess.Popen([sys.executable, "manage.py", "shell", "--no-imports", "-c", script], cwd=ROOT,
                              env=pg_env, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert worker.stdout.readline() == "round\n" and worker.stdout.readline() == "round\n"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()

    assert health.mark_interrupted(now=timezone.now() + health.LOCK_GRACE) == []
    report.refresh_from_db()
    assert report.status == Status.HELD and report.held_lists
    assert OptOutEvent.objects.count() == 0 and Subscription.objects.opted_out().count() == 0
