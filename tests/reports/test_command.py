"""`manage.py ingest_deactivations`: the operators' contract (DESIGN.md), and R6/R9 with real processes."""

import io
import os
import signal
import subprocess
import sys
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import pytest

from django.core.management import CommandError, call_command
from django.utils import timezone

from contacts.models import OptOutEvent, Subscription
from reports import health, services
from reports.management.commands import ingest_deactivations as command_module
from reports.models import DeactivationReport
from tests.conftest import ROOT, child_env
from tests.reports.builders import (
    DAY,
    LATEST_KEY,
    TODAY,
    A,
    B,
    C,
    at,
    dated_key,
    numbers,
    opted_out,
    report_csv,
    snapshot,
    subscribe_many,
    subscribed,
)
from tests.s3_endpoint import Fault
from tests.support.backends import (
    backend_gone,
    has_written,
    loading_rows,
    subscriptions_frozen,
    wait_until,
    waiting_to_opt_out,
)

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    """An stderr that says it is a terminal, as an operator's shell does."""

    def isatty(self) -> bool:
        return True


def ingest_deactivations(*args: str, stderr: io.StringIO | None = None) -> tuple[list[str], str]:
    """Run the command in-process: its stdout lines and its stderr."""
    out, err = io.StringIO(), stderr or io.StringIO()
    call_command("ingest_deactivations", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


def write(path: Path, body: bytes) -> str:
    path.write_bytes(body)
    return str(path)


# --- --file ---


def test_file_prints_one_summary_line_with_the_counts(tmp_path):
    gone = subscribed(A)
    recycled = subscribed(B, opted_in=TODAY)  # consent newer than the row (R3)
    path = write(tmp_path / "deact.csv", report_csv((A, DAY), (B, DAY), (C, DAY)) + b"12345,2026-01-01\n")

    lines, _ = ingest_deactivations("--file", path)

    report = DeactivationReport.objects.get()
    assert lines == [
        f"applied: report={report.pk} date=- status=succeeded rows=4 valid=3 invalid=1 future=0 duplicates=0 "
        f"matched_contacts=2 opted_out=1 already_opted_out=0 stale=1 bytes_read={report.size} "
        f"seconds={report.duration.total_seconds():.1f}"
    ]
    assert report.file_name == "deact.csv"
    assert opted_out(gone, recycled) == [True, False]


def test_the_same_file_again_exits_zero_and_says_nothing_changed(tmp_path):
    subscribed(A)
    path = write(tmp_path / "deact.csv", report_csv((A, DAY)))
    ingest_deactivations("--file", path)
    before = snapshot()

    lines, _ = ingest_deactivations("--file", path)

    report = DeactivationReport.objects.get()
    assert len(lines) == 1
    assert lines[0].startswith(f"already applied; nothing changed: report={report.pk} ")
    assert "opted_out=1 " in lines[0]  # what the report did, not double-counted (R6)
    assert snapshot() == before


def test_a_file_that_is_not_a_report_exits_non_zero_with_a_clear_message(tmp_path):
    subscribed(A)
    before = snapshot()
    path = write(tmp_path / "error.csv", b"<!DOCTYPE html><html><body>Gateway Timeout</body></html>")

    out = io.StringIO()
    with pytest.raises(CommandError, match=r"report \d+ failed: not a deactivation report: looks like an HTML page"):
        call_command("ingest_deactivations", "--file", path, stdout=out, stderr=io.StringIO())

    assert out.getvalue().startswith("failed: report=")
    assert "status=failed" in out.getvalue()
    assert snapshot() == before


def test_a_one_number_a_line_file_takes_the_report_date(tmp_path):
    sub = subscribed(A)
    path = write(tmp_path / "twilio.txt", b"12025550143\n")

    ingest_deactivations("--file", path, "--report-date", DAY.isoformat())

    assert opted_out(sub) == [True]
    assert sub.opted_out_at == at(DAY)
    assert DeactivationReport.objects.get().report_date == DAY


def test_an_unreadable_path_is_named(tmp_path):
    with pytest.raises(CommandError, match="cannot read .*missing.csv: No such file"):
        ingest_deactivations("--file", str(tmp_path / "missing.csv"))


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "one of the arguments --latest --date --backfill --file is required"),
        (("--latest", "--backfill"), "not allowed with argument"),
        (("--latest", "--report-date", "2026-03-01"), "--report-date goes with --file"),
        (("--date", "2026-02-30"), "not a date"),
    ],
)
def test_exactly_one_source_and_well_formed_dates(args, message):
    with pytest.raises(CommandError, match=message):
        ingest_deactivations(*args)


# --- S3: --latest, --date, --backfill ---


def test_latest_then_its_date_applies_the_report_once(s3_reports):
    subscribed(A)
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    s3_reports.put(LATEST_KEY, report_csv((A, DAY)))

    latest, _ = ingest_deactivations("--latest")
    dated, _ = ingest_deactivations("--date", DAY.isoformat())

    report = DeactivationReport.objects.get()
    assert latest[0].startswith(f"applied: report={report.pk} date={DAY} status=succeeded rows=1 ")
    assert dated[0].startswith(f"already applied; nothing changed: report={report.pk} ")
    assert OptOutEvent.objects.count() == 1


def test_a_day_not_published_exits_non_zero_and_its_row_says_so(s3_reports):
    with pytest.raises(CommandError, match=f"s3://{s3_reports.bucket}/{dated_key(DAY)} is not published"):
        ingest_deactivations("--date", DAY.isoformat())

    report = DeactivationReport.objects.get()
    assert (report.key, report.status) == (dated_key(DAY), DeactivationReport.Status.PENDING)
    assert "is not published" in report.error


def test_latest_not_published_exits_non_zero_without_falling_back(s3_reports):
    sub = subscribed(A)
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))

    with pytest.raises(CommandError, match="latest-deact-report.csv is not published"):
        ingest_deactivations("--latest")

    assert opted_out(sub) == [False]


def test_access_denied_exits_non_zero_with_s3s_word_for_it(s3_reports):
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    s3_reports.proxy.fault = lambda request: Fault(403, "AccessDenied") if request.operation == "GetObject" else None

    with pytest.raises(CommandError, match=r"failed: access to .* denied \(AccessDenied\)"):
        ingest_deactivations("--date", DAY.isoformat())

    assert DeactivationReport.objects.get().status == DeactivationReport.Status.FAILED


def test_backfill_prints_a_line_per_report_and_a_total(s3_reports):
    subscribed(A)
    subscribed(B)
    first, second, third = (TODAY - timedelta(days=n) for n in (30, 20, 10))
    s3_reports.put(dated_key(first), report_csv((A, first), (C, first)))
    s3_reports.put(dated_key(second), report_csv((C, second)))
    s3_reports.put(dated_key(third), report_csv((B, third)))
    ingest_deactivations("--date", second.isoformat())

    lines, _ = ingest_deactivations("--backfill")

    assert [line.split(":")[0] for line in lines[:3]] == ["applied", "already applied; nothing changed", "applied"]
    assert [f"date={day}" in line for line, day in zip(lines, (first, second, third))] == [True] * 3
    assert lines[3] == (
        "backfill: reports=3 applied=2 already_applied=1 failed=0 in_progress_elsewhere=0 rows=3 opted_out=2 stale=0"
    )


def test_backfill_with_a_failed_report_applies_the_rest_and_exits_non_zero(s3_reports):
    sub = subscribed(A)
    s3_reports.put(dated_key(DAY - timedelta(days=1)), b"\x00\x01\x02" * 1000)
    s3_reports.put(dated_key(DAY), report_csv((A, DAY)))
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 of 2 reports failed"):
        call_command("ingest_deactivations", "--backfill", stdout=out, stderr=io.StringIO())

    lines = out.getvalue().splitlines()
    assert lines[0].startswith("failed (not a deactivation report: looks like a binary file): report=")
    assert lines[1].startswith("applied: ")
    assert lines[2].startswith("backfill: reports=2 applied=1 already_applied=0 failed=1 ")
    assert opted_out(sub) == [True]


# --- Progress: a bar on a terminal, plain lines elsewhere ---


def test_a_terminal_gets_a_progress_bar(tmp_path, monkeypatch):
    monkeypatch.setattr(services, "PROGRESS_EVERY", 2)
    path = write(tmp_path / "deact.csv", report_csv(*((n, DAY) for n in numbers(5))))

    lines, err = ingest_deactivations("--file", path, stderr=Terminal())

    frames = err.split("\r")[1:]
    assert len(frames) == 3  # after rows 2 and 4, and when the whole file is read
    assert frames[0].startswith("report ") and " 2 rows " in frames[0] and "applying" not in frames[0]
    assert "[##############################] 100% 5 rows" in frames[-1]
    assert frames[-1].rstrip().endswith("applying...")
    assert err.endswith("\n")  # the bar's line is finished before the summary
    assert lines[0].startswith("applied: ")


def test_off_a_terminal_progress_is_plain_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(services, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(command_module, "LOG_EVERY_SECONDS", 0)
    body = report_csv(*((n, DAY) for n in numbers(5)))
    path = write(tmp_path / "deact.csv", body)

    _, err = ingest_deactivations("--file", path)

    report = DeactivationReport.objects.get()
    assert "\r" not in err
    progress = [line for line in err.splitlines() if line.startswith(f"report={report.pk} ")]
    assert progress[0].startswith(f"report={report.pk} reading rows=2 bytes=")
    assert progress[-1] == f"report={report.pk} applying rows=5 bytes={len(body)}/{len(body)} (100%)"


# --- Real processes on PostgreSQL: exit codes, a kill mid-ingest (R9), two at once (R6) ---


def start(*args: str, media_root: Path, **env: str) -> subprocess.Popen:
    """The command as its own process, on the test database (committed data only: transactional_db)."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "ingest_deactivations", *args],
        cwd=ROOT,
        env=child_env(MEDIA_ROOT=str(media_root), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def big_report(path: Path, rows: int, *, every: int) -> list[str]:
    """A file of `rows` numbers dated DAY; every `every`-th number is a subscriber's. Returns theirs."""
    phones = list(numbers(rows))
    with path.open("w") as out:
        out.write("phone,deactivation_date\n")
        out.writelines(f"{phone},{DAY}\n" for phone in phones)
    return phones[::every]


# Another process sees only committed data; the seeded rows (carriers…) come back after the flush.
committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def processes(postgres, shared_media_root):
    """Command processes on PostgreSQL, sharing the test's committed data and uploaded files."""
    started: list[subprocess.Popen] = []

    def run(*args: str, **env: str) -> subprocess.Popen:
        child = start(*args, media_root=shared_media_root, **env)
        started.append(child)
        return child

    yield run
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait()


@committed
def test_exit_codes_of_real_processes(processes, tmp_path, s3_reports):
    subscribed(A)
    good = write(tmp_path / "deact.csv", report_csv((A, DAY)))
    bad = write(tmp_path / "page.csv", b"<html><body>Not Found</body></html>")

    results = []
    # One after the other: the second finds the first's work done. The S3 endpoint is in the environment.
    for args in (("--file", good), ("--file", good), ("--file", bad), ("--date", DAY.isoformat())):
        child = processes(*args)
        out, err = child.communicate(timeout=60)
        results.append((child.returncode, out, err))

    assert [code for code, _, _ in results] == [0, 0, 1, 1]
    (_, applied, _), (_, again, _), (_, failed, refused), (_, _, missing) = results
    assert applied.startswith("applied: ") and again.startswith("already applied; nothing changed: ")
    assert failed.startswith("failed: ")
    assert "CommandError: report" in refused and "failed: not a deactivation report: looks like an HTML page" in refused
    assert f"CommandError: s3://{s3_reports.bucket}/{dated_key(DAY)} is not published; nothing was applied" in missing


KILL_POINTS = {
    # (rows in the file, the moment to kill at, whether subscriptions are held from being written)
    "while loading its rows": (200_000, loading_rows, False),
    "after writing opt-out events, before commit": (20_000, waiting_to_opt_out, True),
}


@committed
@pytest.mark.parametrize("rows, moment, freeze", KILL_POINTS.values(), ids=KILL_POINTS.keys())
def test_r9_a_killed_ingest_leaves_everything_as_before_and_a_rerun_completes(
    processes, tmp_path, rows, moment, freeze
):
    big = tmp_path / "big.csv"
    subscribe_many(big_report(big, rows, every=100))  # each subscriber on two lists of two sender codes
    subscribers = rows // 100
    before = snapshot()

    # Every subscriber of both lists is on the file: the mass opt-out guard (R14) is off, this is about R9.
    with subscriptions_frozen() if freeze else nullcontext():
        child = processes("--file", str(big), OPT_OUT_GUARD_PERCENT="0")
        backend = wait_until(lambda: moment() or child.poll() is not None, what=moment.__name__)
        assert child.poll() is None, f"the ingest ended before it could be killed:\n{child.communicate()[1][-2000:]}"
        if freeze:
            assert has_written(backend, "contacts_optoutevent")
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    wait_until(lambda: backend_gone(backend), what="PostgreSQL to end the killed process's session")

    assert snapshot() == before
    report = DeactivationReport.objects.get()
    assert (report.status, report.opted_out) == (DeactivationReport.Status.RUNNING, 0)
    # No worker holds its row lock any more: the watch shows it interrupted (issue 16), a rerun completes it.
    assert health.mark_interrupted(now=timezone.now() + health.LOCK_GRACE) == [report]
    report.refresh_from_db()
    assert report.status == DeactivationReport.Status.INTERRUPTED

    rerun = processes("--file", str(big), OPT_OUT_GUARD_PERCENT="0")
    out, err = rerun.communicate(timeout=120)

    assert rerun.returncode == 0, err[-2000:]
    assert out.startswith(f"applied: report={report.pk} ")
    report.refresh_from_db()
    # What an uninterrupted run does: every subscriber opted out of both lists, one event per sender code.
    assert (report.rows, report.valid, report.matched_contacts) == (rows, rows, subscribers)
    assert report.opted_out == Subscription.objects.opted_out().count() == 2 * subscribers
    assert OptOutEvent.objects.count() == 2 * subscribers
    assert (report.attempts, report.status) == (2, DeactivationReport.Status.SUCCEEDED)


@committed
def test_r6_two_processes_on_the_same_report_apply_it_once(processes, tmp_path):
    big = tmp_path / "big.csv"
    subscribe_many(big_report(big, 60_000, every=60))  # 1,000 numbers, two lists each

    both = [processes("--file", str(big), OPT_OUT_GUARD_PERCENT="0") for _ in range(2)]  # R6 here, not R14
    results = [child.communicate(timeout=120) for child in both]

    assert [child.returncode for child in both] == [0, 0], [err[-2000:] for _, err in results]
    outcomes = [out.split(":")[0] for out, _ in results]
    assert outcomes.count(services.APPLIED) == 1
    assert set(outcomes) - {services.APPLIED} <= {services.ALREADY_APPLIED, services.BUSY}
    assert DeactivationReport.objects.count() == 1
    assert OptOutEvent.objects.count() == 2000
    assert Subscription.objects.opted_out().count() == 2000
