"""`make bench-scale`: a large customer's data set (issue 20), then the time of every admin screen; writes
docs/benchmarks.md.

PostgreSQL (BENCH_SCALE_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/sms_scale, dropped and
recreated unless BENCH_SCALE_KEEP=1 finds it loaded) gets BENCH_SCALE_CONTACTS contacts (default 20,000,000)
and the rest of `bench.scale_data`'s data set, generated set-based. Then every changelist of the admin site
(the product's and the included libraries'), filtered the ways staff filter them, the SMS contacts tabs, List
Health, the chart's JSON, a number's history and `list_stats` are each timed: the first request, then the
median and the maximum of BENCH_SCALE_REPEAT more (default 5), server time through the Django test client in
this process, as a superuser.
"""

import io
import os
import statistics
import subprocess
import sys
import time
from urllib.parse import urlencode

from bench.screens import recreate, screens, staff_client, timed

PG_URL = os.environ.get("BENCH_SCALE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sms_scale")
CONTACTS = int(os.environ.get("BENCH_SCALE_CONTACTS", 20_000_000))
REPEAT = int(os.environ.get("BENCH_SCALE_REPEAT", 5))
KEEP = os.environ.get("BENCH_SCALE_KEEP") == "1"
DEPTH = 50_000  # rows deep into the Opted-Out tab
TARGET_MS = 300
LABELS = {
    "contacts_contact": "contacts",
    "contacts_subscription": "subscriptions",
    "contacts_optoutevent": "opt-out events",
    "contacts_suspension": "suspensions",
    "reports_deliveryreceipt": "delivery receipts",
    "reports_carriernotice": "carrier notices",
}


def deep_cursor(list_id: int, reason: str) -> tuple[str, int]:
    """The Opted-Out tab's cursor DEPTH rows deep (fewer on a small data set) under a list and reason filter."""
    from contacts import screens as pages
    from contacts.models import Subscription

    keys = (
        Subscription.objects.opted_out()
        .filter(list_id=list_id, opt_out_reason=reason)
        .order_by("-opted_out_at", "-contact_id")
        .values_list("opted_out_at", "contact_id")
        .distinct()
    )
    depth = min(DEPTH, keys.count() // 2)
    return pages.encode_cursor(keys[depth - 1]), depth


def changelists() -> list[tuple[str, str]]:
    """Every changelist of the admin site, unfiltered, and the big tables' filters staff use."""
    from django.apps import apps
    from django.contrib import admin
    from django.urls import NoReverseMatch, reverse

    from contacts.models import Carrier, SenderCode, SubscriberList

    code = SenderCode.objects.order_by("id").first().id
    carrier = Carrier.objects.order_by("id").first().id
    lst = SubscriberList.objects.order_by("id").first().id
    urls = []
    for model in sorted(admin.site._registry, key=lambda m: (m._meta.app_label, m._meta.model_name)):
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        urls.append((f"{model._meta.verbose_name_plural.capitalize()} changelist", url))
    filtered = {
        "contacts_contact": [{"carrier__id__exact": carrier}, {"p": 50}, {"q": "user1000"}],
        "contacts_subscriberlist": [{"sender_code__id__exact": code}],
        "contacts_subscription": [
            {"status__exact": "opted_out"}, {"opt_out_reason__exact": "porting"},
            {"list__sender_code__id__exact": code},
            {"status__exact": "opted_out", "list__sender_code__id__exact": code},
            {"p": 50},
        ],
        "contacts_optoutevent": [
            {"source__exact": "carrier_notice"}, {"reason__exact": "operator"}, {"sender_code__id__exact": code},
            {"source__exact": "carrier_notice", "sender_code__id__exact": code},
        ],
        "reports_deliveryreceipt": [{"code": "603"}, {"outcome__exact": "suspended"}, {"sender_code__id__exact": code},
                                    {"source__exact": "csv"}, {"carrier__id__exact": carrier}],
        "reports_carriernotice": [{"event__exact": "porting"}, {"status__exact": "rejected"},
                                  {"carrier__id__exact": carrier}, {"source__exact": "csv"}],
        "contacts_suspension": [{"state": "active"}, {"carrier__id__exact": carrier}],
        "contacts_reengagementqueue": [{"list__id__exact": lst}],
    }  # fmt: skip
    for table, filters in filtered.items():
        app, model = table.split("_", 1)
        base = reverse(f"admin:{app}_{model}_changelist")
        for params in filters:
            what = ", ".join(f"{k.split('__')[0]}={v}" for k, v in params.items())
            name = apps.get_model(app, model)._meta.verbose_name_plural.capitalize()
            urls.append((f"{name} changelist, {what}", f"{base}?{urlencode(params)}"))
    return urls


def sms_screens() -> list[tuple[str, str]]:
    """bench.screens' SMS contacts and List Health screens, and the filters issue 20 names."""
    from django.urls import reverse

    from contacts.models import SubscriberList

    changelist = reverse("admin:contacts_smscontact_changelist")
    lst = SubscriberList.objects.order_by("id").first().id
    cursor, depth = deep_cursor(lst, "deactivated")
    return [
        *screens(),
        ("Opted-Out tab, source = carrier notice", f"{changelist}?tab=opted_out&source=carrier_notice"),
        (f"Opted-Out tab, one list, deactivated, {depth:,} rows deep",
         f"{changelist}?tab=opted_out&list={lst}&reason=deactivated&older={cursor}"),
    ]  # fmt: skip


def time_all(urls: list[tuple[str, str]]) -> list[tuple[str, float, float, float]]:
    client = staff_client()
    results = []
    for what, url in urls:
        times, _ = timed(client, what, url, REPEAT)
        results.append((what, times[0], statistics.median(times[1:]), max(times[1:])))
        print(f"{what}: first {times[0]:.0f} ms, median {results[-1][2]:.0f} ms", file=sys.stderr, flush=True)
    return results


def time_list_stats() -> tuple[str, float, float, float]:
    from django.core.management import call_command

    times = []
    for _ in range(REPEAT + 1):
        started = time.perf_counter()
        call_command("list_stats", stdout=io.StringIO())
        times.append((time.perf_counter() - started) * 1000)
    return "`manage.py list_stats`", times[0], statistics.median(times[1:]), max(times[1:])


def sizes() -> dict[str, int]:
    from django.db import connection

    from bench.scale_data import BIG_TABLES

    with connection.cursor() as cursor:
        found = {}
        for table in BIG_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")
            found[LABELS[table]] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM contacts_subscription WHERE status = 'opted_out'")
        found["opted-out subscriptions"] = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM contacts_suspension WHERE ended_at IS NULL")
        found["active suspensions"] = cursor.fetchone()[0]
        cursor.execute(
            """SELECT max(n) FROM (SELECT count(*) n FROM contacts_subscription s JOIN contacts_subscriberlist l
               ON l.id = s.list_id WHERE status = 'opted_out' GROUP BY l.sender_code_id, opted_out_at) g"""
        )
        found["opt-outs in the largest same-timestamp group of one code"] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_database_size(current_database())")
        found["bytes"] = cursor.fetchone()[0]
    return found


def write_doc(load: dict[str, float] | None, found: dict[str, int], results: list) -> None:
    from bench.doc import write_section

    pg = subprocess.run(["psql", "-tAq", PG_URL, "-c", "SELECT version()"], capture_output=True, text=True)
    settings = subprocess.run(
        ["psql", "-tAq", PG_URL, "-c",
         "SELECT string_agg(name || ' = ' || current_setting(name), ', ' ORDER BY name) FROM pg_settings "
         "WHERE name IN ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', "
         "'max_parallel_workers_per_gather', 'jit')"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    slow = [what for what, _, median, _ in results if median > TARGET_MS]
    lines = [
        "## A large customer's scale (PostgreSQL, `make bench-scale`, i.e. `python -m bench.scale`)",
        "",
        f"`BENCH_SCALE_CONTACTS={CONTACTS} python -m bench.scale` on {pg.stdout.split(',')[0].strip()}, its",
        f"settings as installed ({settings}). Data set (`bench/scale_data.py`): "
        + ", ".join(f"{n:,} {what}" for what, n in found.items() if what != "bytes")
        + f"; {found['bytes'] / 1e9:.1f} GB in all.",
        "",
    ]
    if load:
        lines += [
            f"Generated set-based in {sum(load.values()) / 60:.1f} minutes: "
            + ", ".join(f"{what} {seconds:.0f} s" for what, seconds in load.items())
            + ".",
            "",
        ]
    lines += [
        f"Server time through the Django test client as a superuser: the first request, then the median and the "
        f"maximum of {REPEAT} more. The target is {TARGET_MS} ms"
        + (f"; {len(slow)} screen(s) miss it." if slow else "; every screen meets it."),
        "",
        "| screen | first ms | median ms | max ms | ≤ target |",
        "|---|---:|---:|---:|:---:|",
        *(
            f"| {what} | {first:.0f} | {median:.0f} | {peak:.0f} | {'yes' if median <= TARGET_MS else '**no**'} |"
            for what, first, median, peak in results
        ),  # fmt: skip
        "",
    ]
    write_section("scale", "\n".join(lines))


def main() -> None:
    os.environ.update({"DATABASE_URL": PG_URL, "DEBUG": "1", "SECRET_KEY": "bench-scale", "LOG_LEVEL": "WARNING",
                       "ALLOWED_HOSTS": "testserver,127.0.0.1", "SECURE_SSL_REDIRECT": "0",
                       "SESSION_COOKIE_SECURE": "0", "OPT_OUT_GUARD_PERCENT": "0"})  # fmt: skip
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")
    fresh = recreate(PG_URL, KEEP)
    import django

    django.setup()
    from django.core.management import call_command

    from bench.scale_data import generate

    call_command("migrate", verbosity=0)
    load = None
    if fresh:
        started = time.perf_counter()
        load = generate(CONTACTS)
        print(f"generated in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    found = sizes()
    results = time_all(sms_screens() + changelists())
    results.append(time_list_stats())
    write_doc(load, found, results)


if __name__ == "__main__":
    main()
