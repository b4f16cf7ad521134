"""`make bench`, imports: a subscriptions CSV of BENCH_IMPORT_ROWS rows (default 2,000,000) through the
command-line import (`manage.py import_csv subscriptions FILE --create-lists`), into an empty database and
then again over itself, plus a quarter-size file to show memory stays flat; writes its section of
docs/benchmarks.md.

PostgreSQL: BENCH_IMPORTS_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/smsprogram_bench_imports,
dropped and recreated. Each import runs in a fresh process whose own peak RSS (VmHWM) is reported.
"""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from bench.doc import write_section

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PG_URL = os.environ.get("BENCH_IMPORTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/smsprogram_bench_imports")
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", 2_000_000))
LISTS = [("45678", "Alerts"), ("45678", "Offers"), ("+18885550100", "Care")]
CARRIERS = ["", "", "Verizon", "T-Mobile", "AT&T"]


def env() -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": PG_URL, "DEBUG": "1", "LOG_LEVEL": "WARNING",
            "MEDIA_ROOT": str(OUT / "media"), "OPT_OUT_GUARD_PERCENT": "0"}  # fmt: skip  # R14 guard off


def recreate_database() -> None:
    url = urlparse(PG_URL)
    name = url.path.lstrip("/")
    server = PG_URL.replace(url.path, "/postgres")
    subprocess.run(["psql", "-q", server, "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env(), check=True)


def write_file(path: Path, rows: int, *, seed: int) -> None:
    """Valid US numbers in the formats operators send, over three lists, some with an email or a carrier."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")
    os.environ.setdefault("DEBUG", "1")  # settings want a key otherwise; nothing here serves requests
    import django

    django.setup()
    from bench.data import numbers

    rng = random.Random(seed)
    with path.open("w") as out:
        out.write("phone,sender_code,list,opted_in_at,email,carrier\n")
        for n, number in enumerate(numbers(rows, seed=seed)):
            code, name = LISTS[n % len(LISTS)]
            shown = number if n % 3 else f"({number[2:5]}) {number[5:8]}-{number[8:]}"
            email = f"s{n}@example.com" if n % 4 == 0 else ""
            day = f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"
            out.write(f"{shown},{code},{name},{day},{email},{rng.choice(CARRIERS)}\n")


def run_import(path: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.import_once", "subscriptions", str(path), "--create-lists"],
                          cwd=ROOT, env=env(), capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        sys.exit(f"import of {path.name} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    print(f"{path.name}: {result}", file=sys.stderr)
    return result


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    small, big = OUT / "subscriptions-small.csv", OUT / "subscriptions.csv"
    started = time.perf_counter()
    write_file(small, ROWS // 4, seed=7)
    write_file(big, ROWS, seed=11)
    print(f"data generated in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    recreate_database()
    quarter = run_import(small)
    recreate_database()
    first = run_import(big)
    again = run_import(big)
    write_doc(quarter, first, big.stat().st_size, again)


def write_doc(quarter: dict, first: dict, size: int, again: dict | None = None) -> None:
    def row(label: str, rows: int, run: dict) -> str:
        rate = rows / run["seconds"]
        return (f"| {label} | {rows:,} | {run['seconds']:.0f} s | {rate:,.0f} rows/s | {run['peak_rss_mb']:.0f} MB "
                f"| `{run['summary']}` |")  # fmt: skip

    write_section(
        "imports",
        f"""
## Operator imports (`python -m bench.imports`)

`manage.py import_csv subscriptions FILE --create-lists` — the same resource the admin's import and its
Celery task use — on PostgreSQL, each run in a fresh process. The file: {ROWS:,} valid US numbers
({size / 1e6:.0f} MB; a third written as `(202) 555-0143`, the rest E.164) over three lists of two sender
codes, a quarter with an email, most with a carrier. Time is the import command's own; peak memory is the
process's VmHWM.

| run | rows | time | rate | peak memory | summary |
|---|---|---|---|---|---|
{row("quarter-size file, empty database", ROWS // 4, quarter)}
{row("full file, empty database", ROWS, first)}
{row("the same file again (every row unchanged)", ROWS, again) if again else ""}

Produced by `BENCH_IMPORT_ROWS={ROWS} python -m bench.imports`. Peak memory at a quarter of the rows and at
all of them shows whether memory stays flat as the file grows: rows stream from the file into a `COPY`
in chunks, and the rules run as set-based statements in the database.
""",
    )


if __name__ == "__main__":
    main()
