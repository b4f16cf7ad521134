"""SQLite, the embedded default: an apply holds the write lock from its first statement (settings: IMMEDIATE).

A second connection that commits while a report is applied used to make the apply's first write fail
("database is locked", R9 kept but the report failed) — a running report's own heartbeat did that to every
report that staged for longer than 30 s. Run on a SQLite file in a process of its own, whatever the suite's
database: file locks are what a second process meets; the test database's shared in-memory cache locks tables.
"""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_sqlite_an_apply_outlasts_another_connection_writing_meanwhile_and_looks_alive_to_the_watch(tmp_path):
    report = tmp_path / "report.csv"
    report.write_text("phone_number\n+12025550143\n+12025550199\n")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "DEBUG": "1",
           "MEDIA_ROOT": str(tmp_path / "media"), "DJANGO_SETTINGS_MODULE": "smsprogram.settings"}  # fmt: skip

    run = subprocess.run([sys.executable, "-m", "tests.support.sqlite_writer_during_apply", str(report)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)  # fmt: skip

    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["ingest"] == "applied: opted_out=1"  # the other connection's commit no longer fails it
    assert seen["interrupted"] == []  # the watch cannot take the lock the apply holds: it marks nothing
    assert seen["write"] == "committed"  # it waited for the apply's commit instead
