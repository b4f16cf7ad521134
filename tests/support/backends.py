"""Watching other PostgreSQL sessions from a test: what a command or worker process started by the test is
doing right now (loading rows, waiting on a lock), freezing a table under it, and knowing when it is gone."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest

from django.db import connection

from tests.conftest import database_url_for_subprocess


def wait_until(condition: Callable[[], object], *, timeout: float = 60, what: str = "") -> object:
    """Poll another process's progress until `condition` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        time.sleep(0.02)
    return value


def other_backend(where: str) -> int | None:
    """The PostgreSQL backend of another session on the test database that matches `where`, if any."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            f"AND {where}"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def loading_rows() -> int | None:
    return other_backend("query LIKE 'COPY signal_batch%%'")


def waiting_to_opt_out() -> int | None:
    return other_backend("wait_event_type = 'Lock' AND query LIKE '%%UPDATE contacts_subscription%%'")


def has_written(pid: int, table: str) -> bool:
    """The backend's open transaction has written to `table` (it holds the lock writes take)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND relation = %s::regclass AND mode = 'RowExclusiveLock'",
            [pid, table],
        )
        return cursor.fetchone()[0] > 0


@contextmanager
def subscriptions_frozen() -> Iterator[None]:
    """Hold writes to subscriptions from another session: an ingest pauses just before it opts anyone out."""
    with psycopg.connect(database_url_for_subprocess()) as other:
        other.execute("LOCK TABLE contacts_subscription IN SHARE MODE")  # reads go on, writes wait
        yield


def backend_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 0
