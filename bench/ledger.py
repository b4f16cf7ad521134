"""`make bench`: the reassigned-number ledger at a year's scale; writes its section of docs/benchmarks.md.

On PostgreSQL (BENCH_DATABASE_URL, dropped and recreated, as bench.run): BENCH_LEDGER_ROWS ledger rows
(default 35,000,000: two years of ~48,000 deactivations a day, 5% of them numbers deactivated a second
time a year later) generated in Python and loaded with one `COPY`; then
- the size on disk per million rows (table and index);
- a batch of 10,000 numbers with consent dates (half of them in the ledger) answered by the service, by
  `check_numbers` and by the signed endpoint, median of BENCH_REPEAT runs, with the query's plan;
- a BENCH_ROWS-row report (bench.run's) ingested with and without the ledger step, each in a fresh
  process, alternating, the ledger's rows of the report's day removed between runs.
"""

import io
import json
import os
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench import run
from bench.doc import write_section

LEDGER_ROWS = int(os.environ.get("BENCH_LEDGER_ROWS", 35_000_000))
DAYS = 730
BATCH = 10_000
FIRST_DAY = run.DAY - timedelta(days=DAYS)  # the generated days end the day before the report's
# Numbers in bench.data's area codes, exchange 200-999, any line: i -> i * MULTIPLIER mod NUMBERS never repeats.
AREA_NUMBERS: list[int] = []  # bench.data's area codes, set once Django is set up
NUMBERS = 15 * 800 * 10_000
MULTIPLIER = 2_654_435_761  # coprime with NUMBERS (odd, not a multiple of 3 or 5)
SECOND_TIME = 20  # one row in 20 is a number deactivated again, a year after its first time
COPY_CHUNK = 1 << 20
PATH = "/api/reassigned-numbers/"


def number(i: int) -> int:
    """The i-th generated number as the ledger stores it: 1, area code, exchange, line."""
    area, rest = divmod((i * MULTIPLIER) % NUMBERS, 8_000_000)
    return 10_000_000_000 + AREA_NUMBERS[area] * 10_000_000 + 2_000_000 + rest


def ledger_lines(rows: int):
    """COPY lines, day by day as the reports arrive: number, day, no carrying record."""
    per_day = rows // DAYS
    for d in range(DAYS):
        day = (FIRST_DAY + timedelta(days=d)).isoformat()
        start = d * per_day
        for i in range(start, start + per_day + (rows % DAYS if d == DAYS - 1 else 0)):
            if i % SECOND_TIME == 0 and d >= 365:
                n = number(i - 365 * per_day)  # the same number as a row of a year before
            else:
                n = number(i)
            yield f"{n}\t{day}\t\\N\t\\N\n"


def load_ledger(rows: int) -> float:
    """Drop the keys, COPY the rows, build the keys again (as a restore would); returns seconds."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE contacts_deactivatednumber DROP CONSTRAINT contacts_deactivatednumber_pkey")
        cursor.execute("DROP INDEX deactivated_number_day")
        with cursor.cursor.copy("COPY contacts_deactivatednumber (number, deactivated_on, ref_type_id, ref_id) "
                                "FROM STDIN") as copy:  # fmt: skip
            chunk = []
            size = 0
            for line in ledger_lines(rows):
                chunk.append(line)
                size += len(line)
                if size >= COPY_CHUNK:
                    copy.write("".join(chunk))
                    chunk, size = [], 0
            copy.write("".join(chunk))
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("ALTER TABLE contacts_deactivatednumber ADD PRIMARY KEY (number, deactivated_on)")
        cursor.execute("CREATE INDEX deactivated_number_day ON contacts_deactivatednumber USING BRIN (deactivated_on)")
        cursor.execute("VACUUM ANALYZE contacts_deactivatednumber")
    return time.perf_counter() - started


def sizes() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size('contacts_deactivatednumber'), "
            "pg_relation_size('contacts_deactivatednumber_pkey'), pg_relation_size('deactivated_number_day'), "
            "(SELECT COUNT(*) FROM contacts_deactivatednumber)"
        )
        table, pkey, brin, count = cursor.fetchone()
    return {"table": table, "pkey": pkey, "brin": brin, "rows": count}


def questions(rows: int, seed: int) -> list[tuple[str, str]]:
    """10,000 numbers with consent dates: half from the ledger (some deactivated twice), half never seen."""
    rng = random.Random(seed)
    asked = []
    for k in range(BATCH):
        n = number(rng.randrange(rows) if k % 2 == 0 else rows + rng.randrange(NUMBERS - rows))
        consent = FIRST_DAY + timedelta(days=rng.randrange(-60, DAYS))
        asked.append((f"+{n}", consent.isoformat()))
    return asked


def median_ms(action, repeat: int) -> float:
    action()  # warm-up: the first batch reads the index pages it needs from disk
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return run.median(times)


def lookups(rows: int) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from reports.reassigned import answer_batch, answer_sql, coverage_start
    from reports.views import expected_signature

    asked = questions(rows, seed=5)
    coverage = coverage_start()
    answered = answer_batch(asked, coverage=coverage)
    counts = {answer: sum(r.answer == answer for r in answered) for answer in ("yes", "no", "no_data", "invalid")}

    # The query alone, as the database runs it: its plan and its execution time.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE number_check (seq bigint, phone text, consented_at timestamptz)")
        with cursor.cursor.copy("COPY number_check FROM STDIN") as copy:
            copy.write("".join(f"{i}\t{phone}\t{day}T00:00:00Z\n" for i, (phone, day) in enumerate(asked)))
        cursor.execute("ANALYZE number_check")
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) {answer_sql()}")  # no clock read per row
        plan = [row[0] for row in cursor.fetchall()]
        cursor.execute("DROP TABLE number_check")
    execution_ms = float(next(line for line in plan if line.startswith("Execution Time")).split()[2])
    index_only = any("Index Only Scan" in line for line in plan)

    service_ms = median_ms(lambda: answer_batch(asked, coverage=coverage), run.REPEAT)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as file:
        file.write("phone,consented_at\n" + "".join(f"{p},{d}\n" for p, d in asked))
    command_ms = median_ms(
        lambda: call_command("check_numbers", file.name, stdout=io.StringIO(), stderr=io.StringIO()), run.REPEAT
    )
    Path(file.name).unlink()

    from django.conf import settings

    settings.SIGNAL_API_SECRET = SECRET = "bench-secret"

    def signature(body: bytes) -> dict[str, str]:
        stamp = str(int(time.time()))
        digest = expected_signature(SECRET, timestamp=stamp, method="POST", path=PATH, body=body)
        return {"X-Signature": f"sha256={digest}", "X-Signature-Timestamp": stamp}

    settings.ALLOWED_HOSTS = ["*"]
    client = Client()
    body = json.dumps({"numbers": [{"phone": p, "consented_at": d} for p, d in asked]}).encode()

    def post():
        response = client.post(PATH, body, content_type="application/json",
                               headers=signature(body))  # fmt: skip
        assert response.status_code == 200, response.content[:200]
        return response

    def post_signed_anew():
        time.sleep(1)  # each signature is accepted once: sign with a new timestamp
        started = time.perf_counter()
        post()
        return (time.perf_counter() - started) * 1000

    post_signed_anew()
    endpoint_ms = run.median([post_signed_anew() for _ in range(run.REPEAT)])
    return {"counts": counts, "execution_ms": execution_ms, "index_only": index_only, "plan": plan,
            "service_ms": service_ms, "command_ms": command_ms, "endpoint_ms": endpoint_ms}  # fmt: skip


RESET_LEDGER_SQL = (
    f"DELETE FROM contacts_deactivatednumber WHERE deactivated_on = '{run.DAY}';\n"
    "DELETE FROM contacts_recentdeactivation;\n"
    "VACUUM ANALYZE contacts_deactivatednumber;\n"
    "VACUUM ANALYZE contacts_recentdeactivation;\n" + run.RESET_SQL
)


def ingestion(report: Path) -> dict[str, list[float]]:
    """The same report with and without the ledger step, alternating, each in a fresh process; then the
    fold that moves the report's rows into the ledger proper (the deferred half of the ledger's cost)."""
    from django.db import close_old_connections

    from contacts import ledger

    times: dict[str, list[float]] = {"with": [], "without": [], "fold": [], "share": []}
    for _ in range(run.REPEAT):
        for mode in ("without", "with"):
            run.psql(run.PG_URL, RESET_LEDGER_SQL)
            args = ["--file", str(report)] + (["--without-ledger"] if mode == "without" else [])
            result = run.ingest(run.PG_URL, *args)
            times[mode].append(result["seconds"])
            if mode == "with":
                times["share"].append(result["ledger_seconds"] / (result["seconds"] - result["ledger_seconds"]))
        close_old_connections()
        started = time.perf_counter()
        ledger.fold()
        times["fold"].append(time.perf_counter() - started)
    return times


def ledger_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'contacts_deactivatednumber'")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    os.environ["DATABASE_URL"] = run.PG_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from bench.data import AREA_CODES, numbers, write_report

    assert len(AREA_CODES) * 800 * 10_000 == NUMBERS
    AREA_NUMBERS.extend(int(code) for code in AREA_CODES)

    run.OUT.mkdir(parents=True, exist_ok=True)
    contacts = numbers(run.CONTACTS, seed=1)
    (run.OUT / "contacts.json").write_text(json.dumps(contacts))
    report = run.OUT / "report-ledger.csv"
    write_report(report, contacts=contacts, rows=run.ROWS, matches=run.MATCHES, invalid_rate=0.01, seed=2, day=run.DAY)
    reuse = os.environ.get("BENCH_LEDGER_REUSE") == "1"  # keep the database a previous run loaded
    if reuse and ledger_count() >= LEDGER_ROWS * 0.99:
        run.manage(run.PG_URL, "migrate", "-v0")
        load_s = float(os.environ.get("BENCH_LEDGER_LOAD_S", "nan"))
    else:
        from django.db import connection

        connection.close()  # the count above may have opened one; a database with a session cannot be dropped
        run.recreate_postgres()
        run.prepare(run.PG_URL, contacts)
        load_s = load_ledger(LEDGER_ROWS)
    print(f"ledger of {LEDGER_ROWS:,} rows loaded in {load_s:.0f}s", file=sys.stderr)
    # As autovacuum leaves a settled table: an earlier run's folds (BENCH_LEDGER_REUSE) cleared pages'
    # all-visible bits, and the lookup would read the heap instead of the index alone.
    run.psql(run.PG_URL, RESET_LEDGER_SQL)
    size = sizes()
    from reports.models import DeactivationReport

    # One report applied marks the start of the coverage, as in production.
    DeactivationReport.objects.update_or_create(fingerprint="bench-coverage", defaults={
        "origin": DeactivationReport.Origin.UPLOAD, "report_date": FIRST_DAY,
        "status": DeactivationReport.Status.SUCCEEDED})  # fmt: skip
    looked = lookups(size["rows"])
    ingest = ingestion(report)
    write_doc(load_s, size, looked, ingest)
    print(json.dumps({"load_s": load_s, "size": size, "lookups": looked, "ingest": ingest}, indent=1, default=str))


def write_doc(load_s: float, size: dict, looked: dict, ingest: dict) -> None:
    per_million = {name: size[name] / size["rows"] * 1_000_000 / 2**20 for name in ("table", "pkey", "brin")}
    with_s, without_s = run.median(ingest["with"]), run.median(ingest["without"])
    counts = ", ".join(f"{k}={v:,}" for k, v in looked["counts"].items())
    lines = [
        "## Reassigned-number ledger (PostgreSQL, `python -m bench.ledger`)",
        "",
        f"{size['rows']:,} ledger rows (two years of daily deactivations, one in {SECOND_TIME} a number's "
        f"second), generated in Python and loaded with one `COPY`, keys built after: {load_s:.0f} s. The machine "
        f"was shared with other engineers' test and benchmark runs (load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores at the end): read the ratios, not the milliseconds.",
        "",
        "| on disk | MB | MB per million rows |",
        "|---|---:|---:|",
        f"| table | {size['table'] / 2**20:,.0f} | {per_million['table']:.1f} |",
        f"| primary key (number, day): the lookup index | {size['pkey'] / 2**20:,.0f} | {per_million['pkey']:.1f} |",
        f"| BRIN index on the day (retention prune) | {size['brin'] / 2**20:,.2f} | {per_million['brin']:.3f} |",
        f"| total | {sum(size[n] for n in ('table', 'pkey', 'brin')) / 2**20:,.0f} | {sum(per_million.values()):.1f} |",
        "",
        f"A batch of {BATCH:,} numbers with consent dates, half of them in the ledger ({counts}); median of "
        f"{run.REPEAT} runs after a warm-up. The target is 200 ms of database time.",
        "",
        "| what | ms |",
        "|---|---:|",
        f"| the lookup query alone (`EXPLAIN ANALYZE` execution time; "
        f"{'index-only scan' if looked['index_only'] else 'NOT index-only'}) | {looked['execution_ms']:.0f} |",
        f"| the service: stage the batch (`COPY`), query, answer | {looked['service_ms']:.0f} |",
        f"| `check_numbers` on a {BATCH:,}-row file, in-process | {looked['command_ms']:.0f} |",
        f"| `POST /api/reassigned-numbers/`, signed, through the Django test client | {looked['endpoint_ms']:.0f} |",
        "",
        f"Report ingestion with the ledger: bench.run's {run.ROWS:,}-row report ({run.CONTACTS:,} contacts) with the "
        f"ledger above, each run in a fresh process, median of {run.REPEAT}: **{without_s:.2f} s** without the "
        f"ledger step, **{with_s:.2f} s** with it (**{(with_s / without_s - 1) * 100:+.0f}%**; target ≤ +20%); the "
        f"fastest of each, which a loaded machine slows least: {min(ingest['without']):.2f} s and "
        f"{min(ingest['with']):.2f} s (**{(min(ingest['with']) / min(ingest['without']) - 1) * 100:+.0f}%**); "
        "runs without: "
        + ", ".join(f"{s:.2f}" for s in ingest["without"])
        + "; with: "
        + ", ".join(f"{s:.2f}" for s in ingest["with"])
        + ". Timed inside each run with the ledger, the ledger "
        "step itself added "
        + ", ".join(f"{share * 100:+.0f}%" for share in ingest["share"])
        + " to the rest of that run — the figure a loaded machine cannot blur. "
        "The report's rows are appended to the ledger's recent tier in its transaction; the hourly fold that "
        f"then moves them into the {size['rows'] / 1e6:.0f}M-row ledger (sorted, `ON CONFLICT DO NOTHING`) took "
        f"{run.median(ingest['fold']):.1f} s, off the ingestion path.",
        "",
    ]
    write_section("ledger", "\n".join(lines))


if __name__ == "__main__":
    main()
