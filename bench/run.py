"""`make bench`: report ingestion against the floor and the peer's approach, in one run; writes docs/benchmarks.md.

PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/smsprogram_bench, dropped and
recreated) holds BENCH_CONTACTS contacts (default 200,000) on one list; a report of BENCH_ROWS rows (default
1,000,000, numbers in four styles, 1% invalid, BENCH_MATCHES = 100,000 of them contacts) is applied by the
floor and the peer's approach (bench.floors) and by the product from a local file and from an S3 endpoint
(moto over HTTP), each in a fresh process, BENCH_REPEAT times in turn; then a 4x report for memory, and
SQLite.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

from bench.doc import DOC, write_section

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/smsprogram_bench")
CONTACTS = int(os.environ.get("BENCH_CONTACTS", 200_000))
ROWS = int(os.environ.get("BENCH_ROWS", 1_000_000))
MATCHES = int(os.environ.get("BENCH_MATCHES", 100_000))
BIG_ROWS = int(os.environ.get("BENCH_BIG_ROWS", 4 * ROWS))
REPEAT = int(os.environ.get("BENCH_REPEAT", 3))
DAY = date(2026, 11, 20)

RESET_SQL = """
UPDATE contacts_subscription SET status = 'opted_in', opted_out_at = NULL, opt_out_reason = '',
    opt_out_event_id = NULL WHERE status = 'opted_out';
DELETE FROM contacts_optoutevent;
DELETE FROM reports_deactivationreport;
VACUUM ANALYZE contacts_subscription;
"""


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "DEBUG": "1", "LOG_LEVEL": "WARNING",
            "MEDIA_ROOT": str(OUT / "media"), "OPT_OUT_GUARD_PERCENT": "0", **extra}  # fmt: skip  # R14 guard off


def manage(database_url: str, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env_for(database_url), check=True)


def psql(database_url: str, sql: str) -> float:
    started = time.perf_counter()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", database_url], input=sql, text=True, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def ingest(database_url: str, *args: str, **extra: str) -> dict:
    return run_module("bench.ingest_once", database_url, *args, **extra)


def yardstick(how: str, path: Path) -> float:
    return run_module("bench.floors", PG_URL, how, str(path))["seconds"]


def run_module(module: str, database_url: str, *args: str, **extra: str) -> dict:
    """Run a bench module in a fresh process; its last line of output is its JSON result."""
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                            env=env_for(database_url, **extra), capture_output=True, text=True)  # fmt: skip
    if result.returncode:
        sys.exit(f"{module} {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def recreate_postgres() -> None:
    url = urlparse(PG_URL)
    admin = PG_URL.replace(url.path, "/postgres")
    name = url.path.lstrip("/")
    subprocess.run(["psql", "-q", admin, "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True)  # fmt: skip


def prepare(database_url: str, contacts: list[str]) -> None:
    manage(database_url, "migrate", "-v0")
    code = (
        "import sys, json; from bench.data import load_contacts;"
        " load_contacts(json.load(open(sys.argv[1])), one_list=True)"
    )
    env = env_for(database_url, DJANGO_SETTINGS_MODULE="smsprogram.settings")
    command = [sys.executable, "-c", f"import django; django.setup(); {code}", str(OUT / "contacts.json")]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_endpoint(report: Path):
    """A moto S3 server over HTTP holding the report under its dated key."""
    import boto3

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    creds = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    for _ in range(100):
        try:
            client.list_buckets()
            break
        except Exception:
            time.sleep(0.1)
    client.create_bucket(Bucket="us-east-1-pinpoint-sms-voice")
    client.upload_file(str(report), "us-east-1-pinpoint-sms-voice", f"sms-deact-reports/us/{DAY}-deact-report.csv")
    return server, {"AWS_ENDPOINT_URL_S3": endpoint, **creds}


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ["OPT_OUT_GUARD_PERCENT"] = "0"  # the mass opt-out guard (R14) off: the benchmark opts out wholesale
    django.setup()
    from bench.data import numbers, write_report

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    contacts = numbers(CONTACTS, seed=1)
    (OUT / "contacts.json").write_text(json.dumps(contacts))
    report, big = OUT / "report.csv", OUT / "report-big.csv"
    write_report(report, contacts=contacts, rows=ROWS, matches=MATCHES, invalid_rate=0.01, seed=2, day=DAY)
    write_report(big, contacts=contacts, rows=BIG_ROWS, matches=MATCHES, invalid_rate=0.01, seed=3, day=DAY)
    print(f"data generated in {time.perf_counter() - started:.0f}s", file=sys.stderr)

    recreate_postgres()
    prepare(PG_URL, contacts)
    runs: dict[str, list] = {"floor": [], "peer": [], "local": [], "remote": []}
    server, s3_env = s3_endpoint(report)
    try:
        for _ in range(REPEAT):
            psql(PG_URL, RESET_SQL)
            runs["floor"].append(yardstick("floor", report))
            runs["peer"].append(yardstick("peer", report))
            runs["local"].append(ingest(PG_URL, "--file", str(report)))
            psql(PG_URL, RESET_SQL)
            runs["remote"].append(ingest(PG_URL, "--s3-date", DAY.isoformat(), **s3_env))
    finally:
        server.terminate()
    psql(PG_URL, RESET_SQL)
    big_run = ingest(PG_URL, "--file", str(big))
    psql(PG_URL, RESET_SQL)

    sqlite_path = OUT / "bench.sqlite3"
    sqlite_path.unlink(missing_ok=True)
    sqlite_url = f"sqlite:///{sqlite_path}"
    prepare(sqlite_url, contacts)
    sqlite_run = ingest(sqlite_url, "--file", str(report))
    write_doc(runs, big_run, sqlite_run)
    shutil.rmtree(OUT / "media", ignore_errors=True)
    print(DOC.read_text())


def write_doc(runs: dict[str, list], big_run: dict, sqlite_run: dict) -> None:
    floor_s, peer_s = median(runs["floor"]), median(runs["peer"])
    local_s = median([r["seconds"] for r in runs["local"]])
    remote_s = median([r["seconds"] for r in runs["remote"]])
    counts = runs["local"][0]["counts"]

    def row(what: str, seconds: float) -> str:
        return f"| {what} | {seconds:.2f} | {seconds / floor_s:.2f} |"

    lines = [
        "## Deactivation report ingestion (PostgreSQL, `python -m bench.run`)",
        "",
        f"{CONTACTS:,} contacts on one list; a report of {ROWS:,} rows, numbers written in four styles in turn",
        f"(E.164, 11 digits, 10 digits, `(NPA) NXX-XXXX`), 1% invalid, {MATCHES:,} of them contacts' numbers.",
        f"Median of {REPEAT} runs, taken in turn, each in a fresh process (start-up excluded), state reset",
        "between runs. The floor and the peer's approach are `bench/floors.py`.",
        "",
        "| what | seconds | × floor |",
        "|---|---:|---:|",
        row("floor: Python regex to E.164, `COPY` into a temp table, one `UPDATE … FROM` join", floor_s),
        row("the peer's approach: file whole in memory, one `VALUES` list, join on `replace(phone,'+','')`", peer_s),
        row("smsprogram `ingest_deactivations --file` (hash, store, read, normalize, stage, apply)", local_s),
        row("smsprogram from the S3 endpoint (moto over HTTP)", remote_s),
        "",
        "Each run in seconds — floor: " + ", ".join(f"{s:.2f}" for s in runs["floor"])
        + "; peer: " + ", ".join(f"{s:.2f}" for s in runs["peer"])
        + "; file: " + ", ".join(f"{r['seconds']:.2f}" for r in runs["local"])
        + "; S3: " + ", ".join(f"{r['seconds']:.2f}" for r in runs["remote"]) + ".",
        "",
        "Counts of one product run: " + ", ".join(f"{k}={v:,}" for k, v in counts.items()) + ".",
        "",
        "## Memory (peak RSS of the ingesting process)",
        "",
        "| report rows | peak RSS (MB) | seconds |",
        "|---:|---:|---:|",
        f"| {ROWS:,} | {runs['local'][0]['peak_rss_mb']:.0f} | {runs['local'][0]['seconds']:.1f} |",
        f"| {BIG_ROWS:,} | {big_run['peak_rss_mb']:.0f} | {big_run['seconds']:.1f} |",
        "",
        "## SQLite (embedded default)",
        "",
        f"The same {ROWS:,}-row report against the same contacts on SQLite: {sqlite_run['seconds']:.1f} s,"
        f" peak RSS {sqlite_run['peak_rss_mb']:.0f} MB.",
        "",
    ]  # fmt: skip
    write_section("ingestion", "\n".join(lines))


if __name__ == "__main__":
    main()
