"""Load on the receipts endpoint: gunicorn on PostgreSQL, signed 1,000-receipt batches from client threads.

`python -m bench.receipts_load` recreates BENCH_RECEIPTS_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/smsprogram_bench_receipts), seeds RECEIPTS_CONTACTS contacts (default
200,000) on three lists, serves the app with gunicorn (RECEIPTS_GUNICORN_WORKERS, default 2) and posts for
RECEIPTS_SECONDS (default 60) from RECEIPTS_CLIENTS threads (default 4). Each batch carries 20 permanent
failures (629) for numbers never sent before, the previous batch's 20 again (the same receipts, so two
requests in flight may race on them), and 960 delivery receipts. Then every batch is posted once more.
It records receipts/s and batch latency, and checks each opt-out was applied exactly once; the figures
go to docs/benchmarks.md (section `receipts_load`).
"""

import hashlib
import hmac
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/receipts/"
BATCH = 1_000
NEW_OPT_OUTS = 20  # permanent failures per batch, for numbers not sent before
DELIVERED = BATCH - 2 * NEW_OPT_OUTS
OPT_OUT_CODE = 629  # "Destination address unable to receive SMS": a number-level opt-out (R1)


@dataclass
class Plan:
    """What the load sends: batches built on demand from the seeded numbers, each kept for the replay."""

    phones: list[str]
    sender_codes: list[str]
    seed: int = 7
    bodies: list[bytes] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # every number sent a permanent failure, once each
    items: int = 0  # receipts posted, repeats included
    unique: int = 0  # distinct receipts posted
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._fresh = iter(self._rng.sample(self.phones, len(self.phones)))
        self._previous: list[dict] = []
        self._at = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")

    def next_batch(self) -> bytes:
        with self._lock:
            n = len(self.bodies)
            new = [next(self._fresh) for _ in range(NEW_OPT_OUTS)]
            self.targets += new
            opt_outs = [self._receipt(phone, OPT_OUT_CODE, f"fail-{phone}") for phone in new]
            delivered = [self._receipt(self._rng.choice(self.phones), None, f"ok-{n}-{i}") for i in range(DELIVERED)]
            items = opt_outs + self._previous + delivered
            self.items += len(items)
            self.unique += len(opt_outs) + len(delivered)
            self._previous = opt_outs
            self._rng.shuffle(items)
            body = json.dumps({"receipts": items}).encode()
            self.bodies.append(body)
            return body

    def _receipt(self, phone: str, code: int | None, message_id: str) -> dict:
        return {"phone": phone, "sender_code": self._rng.choice(self.sender_codes), "error_code": code,
                "occurred_at": self._at, "message_id": message_id}  # fmt: skip


def signed(secret: str, body: bytes) -> dict[str, str]:
    """The API's one scheme: HMAC-SHA256 of "{timestamp}.{METHOD}.{path}.{raw body}" (README, Signal API)."""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{stamp}.POST.{PATH}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Signature": f"sha256={digest}", "X-Signature-Timestamp": stamp}


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, status: int, answer: dict) -> None:
        with self._lock:
            self.latencies.append(seconds)
            if status != 202:
                self.failures.append(f"{status}: {str(answer)[:200]}")
                return
            self.accepted += answer["accepted"]
            self.duplicates += answer["duplicates"]


def post(conn: http.client.HTTPConnection, secret: str, body: bytes, tally: Tally) -> None:
    started = time.perf_counter()
    conn.request("POST", PATH, body=body, headers=signed(secret, body))
    response = conn.getresponse()
    answer = json.loads(response.read() or b"{}")
    tally.add(time.perf_counter() - started, response.status, answer)


def drive(port: int, secret: str, plan: Plan, *, seconds: float, clients: int) -> tuple[Tally, float]:
    """Post batches from `clients` threads, each on its own keep-alive connection, for `seconds`."""
    tally = Tally()
    deadline = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while time.monotonic() < deadline:
                post(conn, secret, plan.next_batch(), tally)
        finally:
            conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return tally, time.perf_counter() - started


def replay(port: int, secret: str, plan: Plan, *, clients: int) -> Tally:
    """Every batch posted again, signed anew: R6 says nothing changes."""
    tally = Tally()
    queue = iter(list(plan.bodies))
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while True:
                with lock:
                    body = next(queue, None)
                if body is None:
                    return
                post(conn, secret, body, tally)
        finally:
            conn.close()

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return tally


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def expected_opt_outs(targets: list[str]) -> tuple[int, int]:
    """(subscriptions, (contact, sender code) pairs) the targets' permanent failures opt out (R1): all of
    their subscriptions, every one opted in before the load (the data set starts with no opt-outs)."""
    from contacts.models import Subscription

    subs = Subscription.objects.filter(contact__phone__in=targets)
    return subs.count(), subs.values("contact_id", "list__sender_code_id").distinct().count()


def applied_opt_outs() -> tuple[int, int, int]:
    """(opted-out subscriptions, receipt opt-out events, receipts stored) as the database has them now."""
    from contacts.models import OptOutEvent, Source, Subscription
    from reports.models import DeliveryReceipt

    events = OptOutEvent.objects.filter(source=Source.DELIVERY_RECEIPT)
    return Subscription.objects.opted_out().count(), events.count(), DeliveryReceipt.objects.count()


@dataclass
class Figures:
    seconds: float
    batches: int
    receipts_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    opt_outs_expected: tuple[int, int]  # (subscriptions, events)
    opt_outs_applied: tuple[int, int]
    receipts_sent: int
    unique_sent: int
    receipts_stored: int
    accepted: int
    duplicates: int
    replay_accepted: int
    replay_errors: int
    unchanged_by_replay: bool

    @property
    def exactly_once(self) -> bool:
        return (
            self.errors == 0
            and self.replay_errors == 0
            and self.opt_outs_applied == self.opt_outs_expected
            and self.accepted == self.unique_sent == self.receipts_stored
            and self.replay_accepted == 0
            and self.unchanged_by_replay
        )


def run(port: int, secret: str, plan: Plan, *, seconds: float, clients: int) -> Figures:
    """The load, then the count, then the replay: the opt-outs of every target, and nothing twice."""
    tally, elapsed = drive(port, secret, plan, seconds=seconds, clients=clients)
    expected = expected_opt_outs(plan.targets)
    opted_out, events, stored = applied_opt_outs()
    sent = plan.items
    again = replay(port, secret, plan, clients=clients)
    batches = len(tally.latencies)
    return Figures(
        seconds=elapsed,
        batches=batches,
        receipts_per_second=sent / elapsed,
        p50_ms=percentile(tally.latencies, 0.50) * 1000,
        p99_ms=percentile(tally.latencies, 0.99) * 1000,
        max_ms=max(tally.latencies, default=0) * 1000,
        errors=len(tally.failures),
        opt_outs_expected=expected,
        opt_outs_applied=(opted_out, events),
        receipts_sent=sent,
        unique_sent=plan.unique,
        receipts_stored=stored,
        accepted=tally.accepted,
        duplicates=tally.duplicates,
        replay_accepted=again.accepted,
        replay_errors=len(again.failures),
        unchanged_by_replay=applied_opt_outs() == (opted_out, events, stored),
    )


@contextmanager
def gunicorn(
    env: dict[str, str], *, port: int, workers: int, log: Path, timeout: int = 120
) -> Iterator[subprocess.Popen]:
    """The app under gunicorn's sync workers, as production serves it, until the block ends (`timeout`: seconds
    before gunicorn kills a worker busy with one request; its own default is 30)."""
    with log.open("ab") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "smsprogram.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--timeout", str(timeout)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/admin/login/")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


def server_env(database_url: str, secret: str) -> dict[str, str]:
    """Production settings (DEBUG off) on plain HTTP over loopback."""
    return {**os.environ, "DATABASE_URL": database_url, "SIGNAL_API_SECRET": secret, "DEBUG": "0",
            "SECRET_KEY": "bench-only-secret-key-" + "x" * 40, "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
            "OPT_OUT_GUARD_PERCENT": "0"}  # fmt: skip  # R14 guard off


def main() -> None:
    import django

    from bench.doc import write_section

    database_url = os.environ.get(
        "BENCH_RECEIPTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/smsprogram_bench_receipts"
    )
    contacts = int(os.environ.get("RECEIPTS_CONTACTS", 200_000))
    seconds = float(os.environ.get("RECEIPTS_SECONDS", 60))
    clients = int(os.environ.get("RECEIPTS_CLIENTS", 4))
    workers = int(os.environ.get("RECEIPTS_GUNICORN_WORKERS", 2))
    secret = "bench-receipts-secret"
    name = database_url.rsplit("/", 1)[1]
    subprocess.run(["psql", database_url.rsplit("/", 1)[0] + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"],
                   check=True)  # fmt: skip
    subprocess.run(["psql", database_url.rsplit("/", 1)[0] + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    os.environ.update({"DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "smsprogram.settings",
                       "OPT_OUT_GUARD_PERCENT": "0"})  # fmt: skip  # R14 guard off
    os.environ.setdefault("DEBUG", "1")
    django.setup()
    from django.core.management import call_command

    from bench.data import load_contacts, numbers
    from contacts.models import SenderCode

    call_command("migrate", verbosity=0)
    phones = numbers(contacts, seed=21)
    load_contacts(phones)
    plan = Plan(phones, list(SenderCode.objects.values_list("code", flat=True)))
    port = _free_port()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    with gunicorn(server_env(database_url, secret), port=port, workers=workers, log=out / "gunicorn.log"):
        figures = run(port, secret, plan, seconds=seconds, clients=clients)
    print(json.dumps(figures.__dict__ | {"exactly_once": figures.exactly_once}, indent=2))
    write_section("receipts_load", report(figures, contacts=contacts, clients=clients, workers=workers))
    if not figures.exactly_once:
        sys.exit("the opt-outs were not applied exactly once: see the figures above")


def report(f: Figures, *, contacts: int, clients: int, workers: int) -> str:
    subs, events = f.opt_outs_applied
    return f"""
## Receipts endpoint under load (PostgreSQL, gunicorn, `python -m bench.receipts_load`)

gunicorn with {workers} sync workers on loopback; {clients} client threads, each on a keep-alive connection,
posting signed batches of {BATCH:,} receipts for {f.seconds:.0f} s against {contacts:,} contacts on three lists.
Each batch: {NEW_OPT_OUTS} permanent failures (629) for numbers never sent before, the previous batch's
{NEW_OPT_OUTS} again, {DELIVERED} delivery receipts. Then every batch posted once more.

| what | figure |
|---|---:|
| batches (1,000 receipts each) | {f.batches:,} |
| sustained receipts/s | {f.receipts_per_second:,.0f} |
| batch latency p50 (ms) | {f.p50_ms:,.0f} |
| batch latency p99 (ms) | {f.p99_ms:,.0f} |
| batch latency max (ms) | {f.max_ms:,.0f} |
| refused or failed requests | {f.errors} |

Exactly once: {subs:,} subscriptions opted out by {events:,} events, expected {f.opt_outs_expected[0]:,} and
{f.opt_outs_expected[1]:,}; {f.accepted:,} receipts accepted and {f.receipts_stored:,} stored, {f.duplicates:,}
answered as duplicates; the replay of all {f.batches:,} batches accepted {f.replay_accepted} and changed
{"nothing" if f.unchanged_by_replay else "SOMETHING"}. Verdict: {"held" if f.exactly_once else "FAILED"}.
"""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    main()
