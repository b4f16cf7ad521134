"""`make bench`, imports: subscriptions CSVs through the command-line import (`manage.py import_csv
subscriptions FILE --create-lists`) against the set-based import floor (bench.import_floor), in one run;
writes its section of docs/benchmarks.md.

The ratio: BENCH_IMPORT_RATIO_ROWS rows (default 200,000), floor and product in turn into empty tables,
BENCH_REPEAT times (default 3), each in a fresh process; the medians compared. Then BENCH_IMPORT_ROWS rows
(default 2,000,000) by the product and the floor, and a quarter of that by the product, into empty tables:
the big file's time, and peak memory at a quarter and at all of the rows (flat memory); then the big file
again over itself (every row unchanged).

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
RATIO_ROWS = int(os.environ.get("BENCH_IMPORT_RATIO_ROWS", 200_000))
REPEAT = int(os.environ.get("BENCH_REPEAT", 3))
EMPTY_TABLES = "TRUNCATE contacts_subscription, contacts_contact CASCADE; VACUUM ANALYZE;"
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
    return run_module("bench.import_once", "subscriptions", str(path), "--create-lists")


def run_floor(path: Path) -> dict:
    return run_module("bench.import_floor", str(path))


def run_module(module: str, *args: str) -> dict:
    """One bench module in a fresh process; its last line of output is its JSON result."""
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env(), capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode:
        sys.exit(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{module} {' '.join(args)}: {result}", file=sys.stderr)
    return result


def empty_tables() -> None:
    subprocess.run(["psql", "-q", PG_URL], input=EMPTY_TABLES, text=True, check=True, capture_output=True)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ratio_file, small, big = OUT / "subscriptions-ratio.csv", OUT / "subscriptions-small.csv", OUT / "subscriptions.csv"
    started = time.perf_counter()
    write_file(ratio_file, RATIO_ROWS, seed=5)
    write_file(small, ROWS // 4, seed=7)
    write_file(big, ROWS, seed=11)
    print(f"data generated in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    recreate_database()
    run_import(ratio_file)  # creates the lists (and warms the server's caches) for every run after it
    runs: dict[str, list[dict]] = {"floor": [], "product": []}
    for _ in range(REPEAT):
        for how, run in (("floor", run_floor), ("product", run_import)):
            empty_tables()
            runs[how].append(run(ratio_file))
    empty_tables()
    quarter = run_import(small)
    empty_tables()
    big_floor = run_floor(big)
    empty_tables()
    first = run_import(big)
    again = run_import(big)
    write_doc(runs, quarter, first, big_floor, big.stat().st_size, again)


def write_doc(runs: dict[str, list[dict]], quarter: dict, first: dict, big_floor: dict, size: int,
              again: dict) -> None:  # fmt: skip
    floor = median([run["seconds"] for run in runs["floor"]])
    product = median([run["seconds"] for run in runs["product"]])

    def row(label: str, rows: int, run: dict) -> str:
        rate = rows / run["seconds"]
        return (f"| {label} | {rows:,} | {run['seconds']:.1f} s | {rate:,.0f} rows/s | {run['peak_rss_mb']:.0f} MB "
                f"| `{run['summary']}` |")  # fmt: skip

    def each(how: str) -> str:
        return ", ".join(f"{run['seconds']:.1f}" for run in runs[how])

    write_section(
        "imports",
        f"""
## Operator imports (`python -m bench.imports`)

`manage.py import_csv subscriptions FILE --create-lists` — the same resource the admin's import and its
Celery task use — on PostgreSQL, each run in a fresh process, against the set-based import floor
(`bench/import_floor.py`): a Python regex takes each number to E.164, one `COPY` into a temporary table, then
`INSERT … SELECT … ON CONFLICT` into copies of the contacts and subscriptions tables with the same indexes
(unique keys among them) and deferred foreign keys, committed. The floor skips what the product must do
besides: the newest consent per number and list, R4's and R13's refusals and their samples, renewals, the
row checks (R8) and the list tallies. The files: valid US numbers (a third written as `(202) 555-0143`, the
rest E.164) over three lists of two sender codes, a quarter with an email, most with a carrier. Time is the
import's own (start-up excluded); peak memory is the process's VmHWM.

| {RATIO_ROWS:,} rows into empty tables, median of {REPEAT} | seconds (each run) | × floor |
|---|---:|---:|
| floor | {floor:.1f} ({each("floor")}) | 1.0 |
| smsprogram `import_csv subscriptions` | {product:.1f} ({each("product")}) | **{product / floor:.2f}** |

| run | rows | time | rate | peak memory | summary |
|---|---|---|---|---|---|
{row("quarter-size file, empty tables", ROWS // 4, quarter)}
{row("full file, empty tables", ROWS, first)}
{row("the same file again (every row unchanged)", ROWS, again)}

The floor on the full file ({ROWS:,} rows, {size / 1e6:.0f} MB): {big_floor["seconds"]:.1f} s, so the product
is {first["seconds"] / big_floor["seconds"]:.2f}× the floor at that size. Produced by
`BENCH_IMPORT_ROWS={ROWS} BENCH_IMPORT_RATIO_ROWS={RATIO_ROWS} python -m bench.imports`.
""",
    )


if __name__ == "__main__":
    main()
