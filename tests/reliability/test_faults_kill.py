"""SIGKILL mid-ingest at random moments on PostgreSQL (R9): after each kill the consent state is exactly what
it was before the report, and the run that finally completes leaves exactly what an uninterrupted run does.

tests/reports/test_command.py kills at two chosen moments (loading rows; events written, not committed);
these kill wherever a uniform draw over the ingest's own database time lands, many times over.
"""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from django.db import connection
from django.utils import timezone

from bench.data import load_contacts, numbers, write_report
from contacts.models import Contact, Source, Suspension
from reports import services
from reports.models import DeactivationReport
from tests.conftest import ROOT, child_env
from tests.reliability.faults_support import (
    backend_gone,
    consent_state,
    drop_kept_state,
    keep_state,
    other_backend,
    wait_until,
)

DAY = timezone.now().date() - timedelta(days=3)
SUSPENDED = 50  # subscribers on the report whose line is suspended: the deactivation ends it (R5)
AFTER_COMMIT = "after commit"


def ingest_process(path: Path, media_root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.ingest_once", "--file", str(path)],
        cwd=ROOT, env=child_env(MEDIA_ROOT=str(media_root)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def ingest_backend() -> int | None:
    return other_backend("backend_type = 'client backend'")


def phase(pid: int) -> str:
    """What the ingest's session was doing when it was killed: its statement's first words, or its state."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT state, query FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    if row is None:
        return "gone"
    state, query = row
    return " ".join(query.split()[:3]) if state == "active" else state


def run_to_completion(path: Path, media_root: Path) -> tuple[float, float]:
    """An uninterrupted run: (seconds until it had a database session, seconds until it ended)."""
    started = time.monotonic()
    child = ingest_process(path, media_root)
    wait_until(lambda: ingest_backend() or child.poll() is not None, timeout=120, what="the ingest to connect")
    connected = time.monotonic() - started
    _, err = child.communicate(timeout=600)
    assert child.returncode == 0, err.decode()[-3000:]
    return connected, time.monotonic() - started


def kill_at_random(path: Path, media_root: Path, *, kills: int, contacts: int, rows: int) -> dict:
    phones = numbers(contacts, seed=11)
    load_contacts(phones)
    valid = write_report(path, contacts=phones, rows=rows, matches=rows // 20, invalid_rate=0.01, seed=12, day=DAY)
    on_report = set(valid) & set(phones)
    at = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    Suspension.objects.bulk_create(
        Suspension(contact=contact, started_at=at - timedelta(days=5), expires_at=at + timedelta(days=25),
                   source=Source.CARRIER_NOTICE)
        for contact in Contact.objects.filter(phone__in=sorted(on_report)[:SUSPENDED])
    )  # fmt: skip
    # The report row exists before any run: the state "before this report" includes it, not yet applied.
    with path.open("rb") as stream:
        report = services.report_for_upload(stream, file_name=path.name, report_date=None)

    restore = keep_state()
    try:
        before = consent_state()
        connected, ended = run_to_completion(path, media_root)
        uninterrupted = consent_state()
        assert uninterrupted["reports"] != before["reports"]  # it did apply something…
        assert uninterrupted["suspensions"] != before["suspensions"]  # …and ended suspensions
        restore()
        assert consent_state() == before

        seed = int(os.environ.get("KILL_SEED", time.time_ns() % 1_000_000))
        rng = random.Random(seed)
        phases: Counter[str] = Counter()
        while sum(phases.values()) - phases[AFTER_COMMIT] < kills:
            child = ingest_process(path, media_root)
            backend = wait_until(lambda: ingest_backend() or child.poll() is not None, timeout=120, what="a session")
            time.sleep(rng.uniform(0, 0.98) * (ended - connected))
            if child.poll() is not None:
                # It finished first: put the state back and draw again.
                child.communicate()
                restore()
                continue
            where = phase(backend)
            os.kill(child.pid, signal.SIGKILL)
            child.communicate()
            wait_until(lambda: backend_gone(backend), timeout=120, what="PostgreSQL to end the killed session")
            after = consent_state()
            if after == uninterrupted:
                # Killed after its commit, on its way out: the report is applied whole, which R9 allows too.
                # Counted apart: only a kill before the commit counts towards `kills`.
                where = AFTER_COMMIT
                restore()
            else:
                assert after == before, f"a kill ({where}, seed {seed}) left a part of the report applied"
            phases[where] += 1

        run_to_completion(path, media_root)
        assert consent_state() == uninterrupted, f"the rerun differs from an uninterrupted run (seed {seed})"
        report.refresh_from_db()
        assert report.status == DeactivationReport.Status.SUCCEEDED
    finally:
        drop_kept_state()
    return {"seed": seed, "seconds": round(ended, 1), "phases": dict(phases), "counts": report.counts()}


# Another process sees only committed data; the seeded rows (carriers, codes) come back after the flush.
committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def media_root(settings, shared_media_root):
    settings.MEDIA_ROOT = str(shared_media_root)
    return shared_media_root


@committed
def test_r9_killed_at_random_moments_each_kill_changes_nothing_and_the_rerun_is_an_uninterrupted_run(
    postgres, tmp_path, media_root
):
    figures = kill_at_random(tmp_path / "report.csv", media_root, kills=2, contacts=3_000, rows=30_000)
    print(f"kill -9 mid-ingest: {figures}")


@pytest.mark.slow
@pytest.mark.timeout(3600)
@committed
def test_r9_twenty_kills_of_a_million_row_ingest(postgres, tmp_path, media_root):
    figures = kill_at_random(tmp_path / "report.csv", media_root, kills=20, contacts=200_000, rows=1_000_000)
    print(f"kill -9 mid-ingest: {figures}")
