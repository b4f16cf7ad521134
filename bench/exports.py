"""`python -m bench.exports`: the opted-out CSV export on PostgreSQL, rows per second and time to the first data
row, written to docs/benchmarks.md.

PostgreSQL (BENCH_EXPORTS_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/smsprogram_bench_exports,
dropped and recreated unless BENCH_EXPORTS_KEEP=1 finds it loaded) holds BENCH_EXPORTS_OPTED_OUT opted-out
subscriptions (default 1,000,000): twice as many contacts on three lists of two sender codes, a third of the
subscriptions opted out over 180 days with the screens benchmark's mix of reasons, sources and codes.

Each export is read in this process as a download reads it (the chunks of contacts.exports' stream), timed
from the request for the first chunk: to the first chunk holding a data row, and to the last. Resident memory
is sampled while it runs. The "before" row is the same export read the way it was before issue 20: Django's
`.iterator()` (a `DECLARE … WITH HOLD` cursor outside a transaction) and the csv module.
"""

import os
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import urlparse

PG_URL = os.environ.get("BENCH_EXPORTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/smsprogram_bench_exports")
OPTED_OUT = int(os.environ.get("BENCH_EXPORTS_OPTED_OUT", 1_000_000))
KEEP = os.environ.get("BENCH_EXPORTS_KEEP") == "1"
TARGET_ROWS_PER_SECOND, TARGET_FIRST_ROW_S = 200_000, 1.0


def recreate() -> bool:
    """A fresh database, unless asked to keep a loaded one; True when it needs loading."""
    url = urlparse(PG_URL)
    admin = PG_URL.replace(url.path, "/postgres")
    if KEEP:
        found = subprocess.run(["psql", "-tAq", PG_URL, "-c", "SELECT count(*) FROM contacts_optoutevent"],
                               capture_output=True, text=True)  # fmt: skip
        if found.returncode == 0 and int(found.stdout.strip() or 0) > 0:
            return False
    name = url.path.lstrip("/")
    subprocess.run(["psql", "-q", admin, "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True)  # fmt: skip
    return True


def load() -> None:
    from django.db import connection, transaction

    from bench.data import load_contacts, numbers
    from bench.screens import EVENTS_SQL, NOW, OPT_OUT_SQL

    started = time.perf_counter()
    load_contacts(numbers(OPTED_OUT * 2, seed=12))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(OPT_OUT_SQL, {"now": NOW})
        for statement in EVENTS_SQL.split(";"):
            if statement.strip():
                cursor.execute(statement)
    with connection.cursor() as cursor:
        for table in ("contacts_subscription", "contacts_optoutevent", "contacts_contact"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"exports data loaded in {time.perf_counter() - started:.0f}s", file=sys.stderr)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb / 1024


def measure(stream) -> dict:
    """Read a CSV stream to its end: rows, seconds to the first data row and to the end, bytes, memory growth."""
    before = rss_mb()
    peak, lines, size, first = before, 0, 0, None
    started = time.perf_counter()
    for n, chunk in enumerate(stream):
        lines += chunk.count(b"\n")
        size += len(chunk)
        if first is None and lines > 1:
            first = time.perf_counter() - started
        if n % 64 == 0:
            peak = max(peak, rss_mb())
    seconds = time.perf_counter() - started
    rows = lines - 1
    return {"rows": rows, "first": first or seconds, "seconds": seconds, "per_second": rows / seconds,
            "mb": size / 1e6, "memory": peak - before}  # fmt: skip


def run() -> list[tuple[str, dict]]:
    from bench.screens import NOW
    from contacts.exports import OptedOutFilter, opted_out_export
    from contacts.models import SenderCode

    code, busiest = SenderCode.objects.order_by("code")[:2]
    month = OptedOutFilter(sender_code=busiest, since=NOW - timedelta(days=30), until=NOW)
    cases = [
        ("`export_opted_out` (every sender code, oldest first)",
         lambda: opted_out_export(OptedOutFilter(newest_first=False)).stream()),
        (f"Opted-Out tab download, sender code {code.code} (newest first)",
         lambda: opted_out_export(OptedOutFilter(sender_code=code)).stream()),
        (f"Opted-Out tab download, sender code {busiest.code}, last 30 days (a size streamed in the request)",
         lambda: opted_out_export(month).stream()),
        ("before issue 20: the Opted-Out tab download above through `.iterator()` and the csv module",
         lambda: opted_out_export(OptedOutFilter(sender_code=code)).stream(copy=False)),
    ]  # fmt: skip
    results = []
    for what, stream in cases:
        figures = measure(stream())
        results.append((what, figures))
        print(f"{what}: {figures}", file=sys.stderr)
    return results


def write_doc(results: list[tuple[str, dict]]) -> None:
    from bench.doc import write_section

    def meets(figures: dict) -> str:
        ok = figures["per_second"] >= TARGET_ROWS_PER_SECOND and figures["first"] <= TARGET_FIRST_ROW_S
        return "yes" if ok else "**no**"

    lines = [
        "## Opted-out CSV export (PostgreSQL, `python -m bench.exports`)",
        "",
        f"{OPTED_OUT * 2:,} contacts, {OPTED_OUT * 3:,} subscriptions on three lists of two sender codes, a third",
        "of them opted out over 180 days (each with its opt-out event), PostgreSQL 15 with default settings. Each",
        "export is read to its end as a download reads it (contacts.exports' 256 KB chunks), in one process;",
        "*first row* is the time from asking to the first chunk holding a data row. Targets: ≥ 200,000 rows/s and",
        "the first row within 1 s (issue 20). Memory is the growth of the reading process's resident set.",
        f"Load average while it ran: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work shared them).",
        "",
        "| export | rows | MB | first row s | total s | rows/s | memory MB | meets targets |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|",
        *(
            f"| {what} | {f['rows']:,} | {f['mb']:.0f} | {f['first']:.2f} | {f['seconds']:.1f} | "
            f"{f['per_second']:,.0f} | {f['memory']:.0f} | {meets(f) if 'before' not in what else '—'} |"
            for what, f in results
        ),  # fmt: skip
        "",
        "**Where the time goes** (by hand, `EXPLAIN (ANALYZE, BUFFERS)` and `COPY … TO '/dev/null'` on the same data",
        "and machine, 1,000,000 rows, load average 7–9): the query itself — hash joins of the opted-out",
        "subscriptions with contacts and opt-out events, then the sort into the export's order — takes 6–7.5 s",
        "of the ~10 s server time, and no row leaves before the sort is done; the cells' text and formula escaping",
        "add 1.6 s (1.05 s → 2.7 s for COPY of the same rows from a table), after making the escape's E.164 test",
        "a length check plus `^\\+[1-9][0-9]*$` (PostgreSQL's engine runs `{6,14}` about 4× slower) and whole-second",
        "timestamps `::text` instead of `to_char` (0.4 s vs 1.1 s a million). JIT compiled the plan for 1.6 s",
        "before the first row; the export turns it off. A plan forced onto nested loops over the primary keys",
        "(hash and merge joins off) sends its first rows at once but took 23 s in all (contact lookups out of",
        "the 128 MB default shared_buffers), so the planner keeps its choice. **Not met**: on this shared",
        "2-core machine neither 200,000 rows/s nor the first row within 1 s; the export is 3–4× the old rate",
        "and its first row 3× earlier, in flat memory.",
        "",
        "Exports of more than `EXPORT_DIRECT_MAX_ROWS` (200,000) rows are not streamed in the request: a Celery",
        "worker writes the same bytes to a file (the job's page shows progress and then offers the download), so",
        "gunicorn's worker timeout never cuts a download off; `tests/reliability/test_export_timeout.py` shows it",
        "end to end under `gunicorn --timeout 2`.",
        "",
    ]
    write_section("exports", "\n".join(lines))


def main() -> None:
    os.environ.update({"DATABASE_URL": PG_URL, "DEBUG": "1", "SECRET_KEY": "bench-exports", "LOG_LEVEL": "WARNING",
                       "OPT_OUT_GUARD_PERCENT": "0"})  # fmt: skip  # R14 guard off
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")
    fresh = recreate()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if fresh:
        load()
    write_doc(run())


if __name__ == "__main__":
    main()
