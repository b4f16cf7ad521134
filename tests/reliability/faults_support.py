"""What the fault and load tests share: a fingerprint of the consent state, and the processes they break.

The processes are real: a Redis server of the test's own (never the shared one, which other tests
use), Celery workers and beat schedulers on it, each writing a log the test reads when it fails.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from django.db import connection

from tests.conftest import ROOT, child_env, require
from tests.s3_endpoint import free_port
from tests.support.backends import backend_gone, other_backend  # noqa: F401  (for the fault tests)

# The tables an ingest writes. Each is read without the columns that differ between two runs doing the
# same thing: ids drawn from sequences (a rolled-back insert still uses some up) and the clock.
STATE_QUERIES = {
    "subscriptions": """
        SELECT s.id, s.status, s.opted_in_at, s.opted_out_at, s.opt_out_reason,
               e.contact_id, e.sender_code_id, e.reason, e.source, e.occurred_at
        FROM contacts_subscription s LEFT JOIN contacts_optoutevent e ON e.id = s.opt_out_event_id
        ORDER BY s.id""",
    "events": """
        SELECT contact_id, sender_code_id, reason, source, error_code, occurred_at, ref_type_id, ref_id
        FROM contacts_optoutevent
        ORDER BY contact_id, sender_code_id, occurred_at, reason, source, ref_id""",
    "suspensions": """
        SELECT id, contact_id, carrier_id, started_at, expires_at, ended_at, end_reason, source
        FROM contacts_suspension ORDER BY id""",
    # A report's bookkeeping (running, attempts, timestamps, a failure's message) is not consent state;
    # whether it was applied, and what it counted, is.
    "reports": """
        SELECT fingerprint, status = 'succeeded', rows, valid, invalid, future, duplicates, matched_contacts,
               opted_out, already_opted_out, stale, bytes_read
        FROM reports_deactivationreport ORDER BY fingerprint""",
    # The reassigned-number ledger is written in the report's transaction (R9, R13).
    "ledger": """
        SELECT number, deactivated_on, ref_type_id, ref_id FROM contacts_deactivatednumber
        UNION ALL
        SELECT number, deactivated_on, ref_type_id, ref_id FROM contacts_recentdeactivation
        ORDER BY number, deactivated_on, ref_type_id, ref_id""",
    # The triggers' per-list tallies (contacts.tallies), summed: how they are split into rows is theirs.
    "tallies": """
        SELECT 'list', list_id, NULL, NULL, sum(subscribers), sum(suspended) FROM contacts_listtally GROUP BY list_id
        UNION ALL
        SELECT 'day', list_id, day, reason, sum(count), NULL FROM contacts_optouttally GROUP BY list_id, day, reason
        ORDER BY 1, 2, 3, 4""",
}
STATE_TABLES = ["contacts_subscription", "contacts_optoutevent", "contacts_suspension", "reports_deactivationreport",
                "contacts_listtally", "contacts_optouttally", "contacts_deactivatednumber",
                "contacts_recentdeactivation", "contacts_reengagement"]  # fmt: skip
# contacts_reengagement is never written by an ingest; it is here because it references subscriptions, which
# TRUNCATE cannot empty alone.


def consent_state(*names: str) -> dict[str, str]:
    """A digest per table of subscriptions, opt-out events, suspensions, reports' outcomes and the ledger (or of
    `names`)."""
    digests = {}
    with connection.cursor() as cursor:
        for name in names or STATE_QUERIES:
            sql = STATE_QUERIES[name]
            digest = hashlib.sha256()
            cursor.execute(sql)
            while rows := cursor.fetchmany(10_000):
                digest.update(repr(rows).encode())
            digests[name] = digest.hexdigest()
    return digests


def keep_state() -> Callable[[], None]:
    """Copy the tables an ingest writes aside (PostgreSQL); the function returned puts them back as they were."""
    with connection.cursor() as cursor:
        for table in STATE_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS kept_{table}")
            cursor.execute(f"CREATE TABLE kept_{table} AS TABLE {table}")

    def restore() -> None:
        with connection.cursor() as cursor:
            # Rows go back as they were, tallies included: the tally triggers (and FK checks) stay out of it.
            cursor.execute("SET session_replication_role = replica")
            try:
                cursor.execute(f"TRUNCATE {', '.join(STATE_TABLES)}")
                for table in STATE_TABLES:
                    cursor.execute(f"INSERT INTO {table} SELECT * FROM kept_{table}")
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")

    return restore


def drop_kept_state() -> None:
    with connection.cursor() as cursor:
        for table in STATE_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS kept_{table}")


def wait_until(condition: Callable[[], object], *, timeout: float = 60, what: str = "", log: Path | None = None):
    """Poll until `condition` holds and return its value; fail after `timeout` seconds, showing `log`."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            tail = f"\n{log.name}:\n{log.read_text()[-4000:]}" if log and log.exists() else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}{tail}", pytrace=False)
        time.sleep(0.05)
    return value


class RedisServer:
    """A redis-server of the test's own on a free port, persisting every write so a restart keeps the queue."""

    def __init__(self, directory: Path) -> None:
        require(shutil.which("redis-server") is not None, "needs redis-server on PATH")
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        # appendfsync always: what a broker needs to lose nothing it acknowledged to a producer.
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=(self.directory / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self.answers, timeout=20, what="redis-server to answer", log=self.directory / "redis.log")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Shut down as a deploy or a crash-safe restart does (SIGTERM: flush and exit)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)

    def queued(self, queue: str = "celery") -> int:
        return redis.Redis(port=self.port).llen(queue)


class CeleryProcesses:
    """`celery worker` and `celery beat` processes on a broker, on the test database; all stopped at the end."""

    def __init__(self, directory: Path, broker: str, **env: str) -> None:
        self.directory = directory
        self.env = child_env(REDIS_URL=broker, **env)
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = self.log(name)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "smsprogram", *args, "--loglevel", "INFO"],
            cwd=ROOT, env=self.env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.started.append(process)
        return process

    def worker(self, name: str = "worker", *, concurrency: int = 1) -> subprocess.Popen:
        pool = ["--pool", "solo"] if concurrency == 1 else ["--pool", "prefork", "--concurrency", str(concurrency)]
        worker = self.start(name, "worker", *pool, "--without-gossip", "--without-mingle", "-n", f"{name}@%h")
        wait_until(lambda: "ready." in self.log(name).read_text() or worker.poll() is not None,
                   what=f"{name} to start", log=self.log(name))  # fmt: skip
        assert worker.poll() is None, self.log(name).read_text()[-3000:]
        return worker

    def beat(self, name: str = "beat") -> subprocess.Popen:
        return self.start(name, "beat", "--schedule", str(self.directory / f"{name}.db"), "--max-interval", "1")

    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()


# Fixtures for the modules that start processes; each module names the ones it uses (`x = faults_support.x`).


@pytest.fixture
def broker(tmp_path) -> Iterator[RedisServer]:
    """A Redis server of this test's own."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def celery_processes(broker, tmp_path, postgres, settings, shared_media_root) -> Iterator[CeleryProcesses]:
    """Workers and beats on `broker` and the test database; uploads stored where they find them."""
    settings.MEDIA_ROOT = str(shared_media_root)
    # These faults opt out whole lists on purpose: the mass opt-out guard (R14, tested on its own) is off.
    settings.OPT_OUT_GUARD_PERCENT = 0
    # A task whose acknowledgement Redis lost is handed out again after 5 s rather than two hours.
    processes = CeleryProcesses(tmp_path, broker.url(), MEDIA_ROOT=str(shared_media_root),
                                CELERY_VISIBILITY_TIMEOUT="5", OPT_OUT_GUARD_PERCENT="0")  # fmt: skip
    try:
        yield processes
    finally:
        processes.stop()


def producer(broker: RedisServer) -> Celery:
    """A Celery client sending to `broker` (the test's own Redis, not the one in settings)."""
    return Celery("smsprogram", broker=broker.url(), set_as_current=False)
