"""`python -m bench.screens`: server time of the staff screens on a large data set; writes docs/benchmarks.md.

PostgreSQL (BENCH_SCREENS_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/smsprogram_bench_screens,
dropped and recreated unless BENCH_SCREENS_KEEP=1 finds it loaded) holds BENCH_CONTACTS contacts (default
2,000,000) on three lists of two sender codes (3,000,000 subscriptions), a third of the subscriptions opted
out over the last 180 days with a mix of reasons and carrier codes, three opt-out events per opted-out
subscription's worth of history (3,000,000 events), and 20,000 active and 20,000 ended suspensions.

Each screen is requested through the Django test client in this process (no network), as a superuser, and
timed from request to response; the figure is the median of BENCH_SCREENS_REPEAT runs (default 7) after one
warm-up. Then BENCH_SCREENS_CLIENTS staff (default 8) use the screens at once for BENCH_SCREENS_SECONDS
(default 30) against gunicorn (BENCH_SCREENS_WORKERS sync workers, default 4) on loopback.
"""

import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlparse

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PG_URL = os.environ.get("BENCH_SCREENS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/smsprogram_bench_screens")
CONTACTS = int(os.environ.get("BENCH_CONTACTS", 2_000_000))
REPEAT = int(os.environ.get("BENCH_SCREENS_REPEAT", 7))
KEEP = os.environ.get("BENCH_SCREENS_KEEP") == "1"
CLIENTS = int(os.environ.get("BENCH_SCREENS_CLIENTS", 8))
SECONDS = float(os.environ.get("BENCH_SCREENS_SECONDS", 30))
WORKERS = int(os.environ.get("BENCH_SCREENS_WORKERS", 4))
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TARGET_MS = 300

# Opt-outs spread over 180 days before NOW; reasons and codes in the proportions a real program sees.
OPT_OUT_SQL = """
UPDATE contacts_subscription s SET
    status = 'opted_out',
    opted_out_at = %(now)s - (s.id %% 180) * interval '1 day' - (s.id %% 86400) * interval '1 second',
    opt_out_reason = (ARRAY['deactivated','deactivated','deactivated','disconnected','porting',
                            'permanent_failure','stop','stop','operator','deactivated'])[s.id %% 10 + 1]
WHERE s.id %% 3 = 0
"""
# One event per opted-out subscription, linked to it, and two older events per opted-out subscription
# (the history of earlier consents), 3,000,000 in all.
EVENTS_SQL = """
INSERT INTO contacts_optoutevent (id, contact_id, sender_code_id, reason, source, error_code, occurred_at,
                                  recorded_at)
SELECT s.id * 3 + k, s.contact_id, l.sender_code_id, s.opt_out_reason,
       CASE s.opt_out_reason WHEN 'deactivated' THEN 'deactivation_report' WHEN 'operator' THEN 'operator'
            WHEN 'porting' THEN 'carrier_notice' ELSE 'delivery_receipt' END,
       CASE s.opt_out_reason WHEN 'stop' THEN 603 WHEN 'permanent_failure' THEN 629 END,
       s.opted_out_at - k * interval '400 days', s.opted_out_at - k * interval '400 days'
FROM contacts_subscription s JOIN contacts_subscriberlist l ON l.id = s.list_id, generate_series(0, 2) k
WHERE s.status = 'opted_out';
UPDATE contacts_subscription SET opt_out_event_id = id * 3 WHERE status = 'opted_out';
SELECT setval('contacts_optoutevent_id_seq', (SELECT max(id) FROM contacts_optoutevent));
"""
# Suspensions of subscribers still opted in: 20,000 active, 20,000 ended.
SUSPENSIONS_SQL = """
INSERT INTO contacts_suspension (contact_id, carrier_id, started_at, expires_at, ended_at, end_reason, source)
SELECT c.contact_id, (SELECT id FROM contacts_carrier WHERE supports_suspension LIMIT 1),
       %(now)s - (n %% 29) * interval '1 day', %(now)s - (n %% 29) * interval '1 day' + interval '30 days',
       CASE WHEN n %% 2 = 0 THEN NULL ELSE %(now)s - interval '1 hour' END,
       CASE WHEN n %% 2 = 0 THEN '' ELSE 'reactivated' END, 'carrier_notice'
FROM (SELECT DISTINCT contact_id, row_number() OVER (ORDER BY contact_id) n
      FROM contacts_subscription WHERE status = 'opted_in' AND contact_id %% 37 = 0 LIMIT 40000) c
"""


def recreate(url: str = PG_URL, keep: bool = KEEP) -> bool:
    """A fresh database, unless asked to keep a loaded one; True when it needs loading."""
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = url.replace(parsed.path, "/postgres")
    if keep:
        found = subprocess.run(["psql", "-tAq", url, "-c", "SELECT count(*) FROM contacts_optoutevent"],
                               capture_output=True, text=True)  # fmt: skip
        if found.returncode == 0 and int(found.stdout.strip() or 0) > 0:
            return False
    subprocess.run(["psql", "-q", admin, "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True)  # fmt: skip
    return True


def load() -> None:
    from django.db import connection, transaction

    from bench.data import load_contacts, numbers

    started = time.perf_counter()
    load_contacts(numbers(CONTACTS, seed=11))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(OPT_OUT_SQL, {"now": NOW})
        for statement in EVENTS_SQL.split(";"):
            if statement.strip():
                cursor.execute(statement)
        cursor.execute(SUSPENSIONS_SQL, {"now": NOW})
    with connection.cursor() as cursor:
        for table in ("contacts_subscription", "contacts_optoutevent", "contacts_suspension", "contacts_contact"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"screens data loaded in {time.perf_counter() - started:.0f}s", file=sys.stderr)


def screens() -> list[tuple[str, str]]:
    """(what, URL) of every screen measured, filters included."""
    from django.urls import reverse

    from contacts.models import Contact, SubscriberList, Suspension

    changelist = reverse("admin:contacts_smscontact_changelist")
    health = reverse("admin:contacts_listhealth_changelist")
    reasons = reverse("admin:contacts_listhealth_reasons")
    reasons_json = reverse("admin:contacts_listhealth_reasons_json")
    first_list = SubscriberList.objects.order_by("id").first()
    suspended = Suspension.objects.active().order_by("id").first()
    phone = Contact.objects.get(pk=suspended.contact_id).phone
    number = reverse("admin:contacts_smscontact_number", args=[suspended.contact_id])
    lst = first_list.id
    return [
        ("Opted-Out tab, first page", f"{changelist}?tab=opted_out"),
        ("Opted-Out tab, reason = STOP", f"{changelist}?tab=opted_out&reason=stop"),
        ("Opted-Out tab, one list, porting", f"{changelist}?tab=opted_out&list={lst}&reason=porting"),
        ("Opted-Out tab, date range", f"{changelist}?tab=opted_out&since=2026-09-01&until=2026-09-07"),
        (
            "Opted-Out tab, number search",
            f"{changelist}?tab=opted_out&q={quote(f'({phone[2:5]}) {phone[5:8]}-{phone[8:]}')}",
        ),
        ("Subscribed tab, first page", f"{changelist}?tab=subscribed"),
        ("Suspended tab, first page", f"{changelist}?tab=suspended"),
        ("A number's history", number),
        ("List Health: every list, last 30 days", f"{health}?days=30"),
        ("List Health: every list, last 90 days", f"{health}?days=90"),
        ("List dashboard: one list, last 90 days", reverse("admin:contacts_listhealth_list", args=[lst]) + "?days=90"),
        ("Opt-Out Reasons chart page, last 30 days", f"{reasons}?days=30"),
        ("Chart JSON: one list, last 30 days", f"{reasons_json}?list={lst}&days=30"),
        ("Chart JSON: every list, last 90 days", f"{reasons_json}?days=90"),
        ("Chart JSON: custom range of a year", f"{reasons_json}?since=2025-11-20&until=2026-11-20"),
    ]


def staff_client():
    """The test client logged in as the bench's superuser."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True,
                                                                                "is_superuser": True})  # fmt: skip
    client = Client()
    client.force_login(user)
    return client


def timed(client, what: str, url: str, repeat: int) -> tuple[list[float], int]:
    """Milliseconds of the first request and of `repeat` more, and the page's size; exits if the screen fails.

    The first request is timed again after a redirect is followed, so it is the first of the page itself."""
    times, size = [], 0
    response = client.get(url)
    if response.status_code in (302, 303):  # a number search moves to a token in the URL (R12): time that page
        url = response.url
    for _ in range(repeat + 1):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            sys.exit(f"{what}: {url} answered {response.status_code}")
        size = len(response.content)
    return times, size


def time_screens(urls: list[tuple[str, str]]) -> list[tuple[str, float, int]]:
    client = staff_client()
    results = []
    for what, url in urls:
        times, size = timed(client, what, url, REPEAT)  # the first is a warm-up, and a check that the screen works
        results.append((what, statistics.median(times[1:]), size))
        print(f"{what}: {statistics.median(times[1:]):.0f} ms", file=sys.stderr)
    return results


def staff_session() -> str:
    """A logged-in staff session's cookie value, for the load clients."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    return client.cookies["sessionid"].value


def concurrent_use(urls: list[tuple[str, str]]) -> dict:
    """CLIENTS staff request the screens in turn, each as fast as answers come, against gunicorn."""
    from bench.receipts_load import _free_port, gunicorn, percentile

    port = _free_port()
    env = {**os.environ, "DEBUG": "1", "PYTHONUNBUFFERED": "1"}  # DEBUG: static tags without collectstatic
    cookie = f"sessionid={staff_session()}"
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def staff(offset: int, stop_at: float) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = offset
        while time.monotonic() < stop_at:
            _, url = urls[i % len(urls)]
            started = time.perf_counter()
            conn.request("GET", url, headers={"Cookie": cookie})
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    errors.append(f"{url}: {response.status}")
            i += 1
        conn.close()

    OUT.mkdir(parents=True, exist_ok=True)
    with gunicorn(env, port=port, workers=WORKERS, log=OUT / "screens-gunicorn.log"):
        stop_at = time.monotonic() + SECONDS
        threads = [threading.Thread(target=staff, args=(n * 3, stop_at)) for n in range(CLIENTS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    if errors:
        sys.exit(f"{len(errors)} screens failed under load, e.g. {errors[:3]}")
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
    }


def write_doc(results: list[tuple[str, float, int]], load: dict) -> None:
    from bench.doc import write_section

    lines = [
        "## Staff screens (PostgreSQL, `python -m bench.screens`)",
        "",
        f"{CONTACTS:,} contacts on three lists of two sender codes ({CONTACTS * 3 // 2:,} subscriptions), a third",
        "of the subscriptions opted out over 180 days, 3 opt-out events per opted-out subscription, 20,000 active",
        f"and 20,000 ended suspensions. Server time through the Django test client, median of {REPEAT} runs after a",
        f"warm-up, as a superuser. The target is {TARGET_MS} ms.",
        "",
        "| screen | median ms | under target |",
        "|---|---:|:---:|",
        *(f"| {what} | {ms:.0f} | {'yes' if ms < TARGET_MS else '**no**'} |" for what, ms, _ in results),
        "",
        f"**Concurrent staff.** {CLIENTS} staff sessions, each requesting the screens above in turn as fast as",
        f"answers come, for {SECONDS:.0f} s against gunicorn ({WORKERS} sync workers) over loopback on the same",
        f"data and the same 2 cores: {load['requests']:,} pages, {load['per_second']:.1f} pages/s, latency",
        f"p50 {load['p50']:.0f} ms, p95 {load['p95']:.0f} ms, p99 {load['p99']:.0f} ms, no errors.",
        "",
    ]
    write_section("screens", "\n".join(lines))


def main() -> None:
    os.environ.update({"DATABASE_URL": PG_URL, "DEBUG": "1", "SECRET_KEY": "bench-screens", "LOG_LEVEL": "WARNING",
                       "ALLOWED_HOSTS": "testserver,127.0.0.1", "SECURE_SSL_REDIRECT": "0",
                       "SESSION_COOKIE_SECURE": "0", "OPT_OUT_GUARD_PERCENT": "0"})  # fmt: skip  # R14 guard off
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")
    fresh = recreate()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if fresh:
        load()
    urls = screens()
    results = time_screens(urls)
    under_load = concurrent_use(urls)
    write_doc(results, under_load)


if __name__ == "__main__":
    main()
