"""A large customer's data set, generated set-based straight into the product's tables (`bench.scale`).

For N contacts (20,000,000 in issue 20): 1.5 N subscriptions on 10 lists over 3 sender codes (every contact on
one list, every other contact on a second one), 17% of the contacts opted out over the last 12 months across
every reason, about 0.22 N opt-out events (one per number and sender code, as R1/R2 write them), 0.0715 N
delivery receipts, 0.034 N carrier notices and 0.0025 N active suspensions (as many ended ones).

Each row is a pure function of its id (a multiplicative hash picks reason, day and source), so one INSERT …
SELECT FROM generate_series per table writes it. The shape follows real programs: a deactivation report's
opt-outs all carry the report's day at 00:00 UTC, so one day holds tens of thousands of opt-outs with one
timestamp, and the first day after onboarding (the carriers' backlog) holds about a quarter of them.

The load runs with `session_replication_role = replica` (no tally triggers, no foreign-key checks: the rows
are consistent by construction), with the large tables' secondary indexes and unique constraints dropped and
rebuilt afterwards from their own definitions, then the tallies are recounted by `contacts.tallies.rebuild`.
"""

import math
import re
import sys
import time
from datetime import UTC, datetime, timedelta

from django.db import connection

from bench.data import AREA_CODES
from contacts import tallies
from contacts.phones import InvalidNumber, UsNormalizer

BIG_TABLES = (
    "contacts_contact",
    "contacts_subscription",
    "contacts_optoutevent",
    "contacts_suspension",
    "reports_deliveryreceipt",
    "reports_carriernotice",
)
# (sender code, list names): 4 + 3 + 3 lists.
PROGRAM = [
    ("45678", ["Alerts", "Offers", "Rewards", "Weekly"]),
    ("+18885550100", ["Care", "Billing", "Outages"]),
    ("+12025550199", ["Local", "Events", "Stores"]),
]
HASH = 2654435761  # Knuth's multiplicative hash, taken mod 2^32
OUT_PER_MILLE = 170
BACKLOG = 500  # day buckets: 0..363 one each, 364..499 the backlog day a year ago (~27% of the opt-outs)
# Reason by (h / 1000) % 100; number-level reasons opt out every list of the number (R1), the others one code.
REASON = """CASE WHEN r < 45 THEN 'deactivated' WHEN r < 60 THEN 'disconnected' WHEN r < 66 THEN 'porting'
    WHEN r < 78 THEN 'permanent_failure' WHEN r < 95 THEN 'stop' ELSE 'operator' END"""
# 15% of deactivations reach us as carrier notices, the rest in daily reports.
SOURCE = """CASE WHEN r < 60 AND (h / 100000) % 100 < 15 THEN 'carrier_notice' WHEN r < 60 THEN 'deactivation_report'
    WHEN r < 66 THEN 'carrier_notice' WHEN r < 95 THEN 'delivery_receipt' ELSE 'operator' END"""
# A report's opt-outs carry its day at midnight; receipts, notices and operators carry their own second.
OPTED_OUT_AT = """%(today)s - least(d, 363) * interval '1 day'
    + CASE WHEN r < 60 AND (h / 100000) % 100 >= 15 THEN interval '0' ELSE (h % 86400) * interval '1 second' END"""

# Per contact i: h its hash, r its reason bucket, d its day bucket, code its first list's code index.
CONTACTS = """
SELECT i, h, (h / 1000) % 100 AS r, ((i * 2246822519) % 4294967291) % {backlog} AS d, h % 1000 < {out} AS out
FROM (SELECT i, (i * {hash}) % 4294967296 AS h FROM generate_series(%(first)s::bigint, %(last)s) i) c
"""
# A subscription per contact and k (0: its list i % 10; 1, every other contact: list (i + 3) % 10).
SUBSCRIPTIONS = f"""
SELECT c.*, k, s.list, s.code, ({REASON}) AS reason, ({SOURCE}) AS source,
       c.out AND (r < 66 OR k = 0 OR s.code = first.code) AS opted_out,
       c.i * 2 + CASE WHEN k = 1 AND s.code <> first.code THEN 1 ELSE 0 END AS event_id
FROM ({CONTACTS}) c
CROSS JOIN LATERAL (SELECT (%(list_code)s::int[])[c.i % 10 + 1] AS code) first
CROSS JOIN LATERAL (
    SELECT k, (%(lists)s::bigint[])[(c.i + 3 * k) % 10 + 1] AS list,
           (%(list_code)s::int[])[(c.i + 3 * k) % 10 + 1] AS code
    FROM generate_series(0, CASE WHEN c.i % 2 = 0 THEN 1 ELSE 0 END) k
) s
"""
# An int[] (fixed width) so picking the prefix is O(1); a text[] is walked from its start on every subscript.
PHONE = """'+1' || (%(prefixes)s::int[])[({n} * %(mult)s) % %(space)s / 10000 + 1]
    || lpad((({n} * %(mult)s) % 10000)::text, 4, '0')"""

STEPS = {
    "contacts": """
INSERT INTO contacts_contact (id, phone, email, carrier_id, created_at)
SELECT i, {phone}, CASE WHEN i % 5 = 0 THEN 'user' || i || '@example.com' ELSE '' END,
       (%(carriers)s::bigint[])[nullif(i % 4, 3) + 1], %(opted_in_at)s
FROM generate_series(%(first)s::bigint, %(last)s) i""",
    "subscriptions": f"""
INSERT INTO contacts_subscription (id, contact_id, list_id, status, opted_in_at, opt_in_source, opted_out_at,
                                   opt_out_reason, opt_out_event_id)
SELECT i * 2 + k, i, list, CASE WHEN opted_out THEN 'opted_out' ELSE 'opted_in' END, %(opted_in_at)s, 'import',
       CASE WHEN opted_out THEN {OPTED_OUT_AT} END, CASE WHEN opted_out THEN reason ELSE '' END,
       CASE WHEN opted_out THEN event_id END
FROM ({SUBSCRIPTIONS}) s""",
    "opt-out events": f"""
INSERT INTO contacts_optoutevent (id, contact_id, sender_code_id, reason, source, error_code, occurred_at, recorded_at)
SELECT DISTINCT ON (event_id) event_id, i, (%(codes)s::bigint[])[code], reason, source,
       CASE reason WHEN 'stop' THEN 603 WHEN 'permanent_failure' THEN 629 END,
       {OPTED_OUT_AT}, {OPTED_OUT_AT} + interval '7 minutes'
FROM ({SUBSCRIPTIONS}) s WHERE opted_out ORDER BY event_id""",
    # Every 14th contact has a receipt on record (a sample of the sends); most delivered.
    "delivery receipts": """
INSERT INTO reports_deliveryreceipt (phone, sender_code_id, carrier_id, error_code, occurred_at, message_id, source,
                                     received_at, outcome)
SELECT {phone}, (%(codes)s::bigint[])[j % 3 + 1], (%(carriers)s::bigint[])[j % 3 + 1],
       (ARRAY[NULL, NULL, NULL, NULL, NULL, NULL, 603, 629, 4301, 569])[j % 10 + 1],
       %(today)s - (j % 365) * interval '1 day' - (j % 86400) * interval '1 second', 'bench-' || j,
       CASE WHEN j % 4 = 0 THEN 'csv' ELSE 'api' END,
       %(today)s - (j % 365) * interval '1 day' - (j % 86400) * interval '1 second' + interval '2 minutes',
       (ARRAY['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'opted_out',
              'opted_out', 'recorded', 'suspended'])[j % 10 + 1]
FROM (SELECT j, (j * 7919) % %(contacts)s + 1 AS i FROM generate_series(%(first)s::bigint, %(last)s) j) r""",
    "carrier notices": """
INSERT INTO reports_carriernotice (phone, carrier_id, event, occurred_at, source, received_at, status,
                                   rejection_reason, outcome)
SELECT {phone}, (%(carriers)s::bigint[])[j % 3 + 1],
       (ARRAY['deactivated', 'disconnected', 'porting', 'suspended', 'reactivated'])[j % 5 + 1],
       %(today)s - (j % 365) * interval '1 day' - (j % 86400) * interval '1 second',
       CASE WHEN j % 3 = 0 THEN 'csv' ELSE 'api' END,
       %(today)s - (j % 365) * interval '1 day' - (j % 86400) * interval '1 second' + interval '1 minute',
       CASE WHEN j % 20 = 0 THEN 'rejected' ELSE 'applied' END,
       CASE WHEN j % 20 = 0 THEN 'Carrier not known' ELSE '' END,
       (ARRAY['opted_out', 'opted_out', 'opted_out', 'suspended', 'reactivated'])[j % 5 + 1]
FROM (SELECT j, (j * 104729) % %(contacts)s + 1 AS i FROM generate_series(%(first)s::bigint, %(last)s) j) r""",
    # Suspensions of contacts still opted in: every 342nd contact's active, the 171st's ended (171 is prime to
    # the 10 lists, so every sender code has its suspended numbers).
    "suspensions": f"""
INSERT INTO contacts_suspension (contact_id, carrier_id, started_at, expires_at, ended_at, end_reason, source)
SELECT i, %(suspending)s, %(today)s - (i % 29) * interval '1 day' - (h % 86400) * interval '1 second',
       %(today)s - (i % 29) * interval '1 day' - (h % 86400) * interval '1 second' + interval '30 days',
       CASE WHEN i % 342 = 171 THEN %(today)s - interval '1 hour' END,
       CASE WHEN i % 342 = 171 THEN 'reactivated' ELSE '' END, 'carrier_notice'
FROM ({CONTACTS}) c WHERE i % 171 = 0 AND NOT out""",
}
# Rows per contact of each table's series (contacts and subscriptions run over the contacts).
SERIES = {"delivery receipts": 0.0715, "carrier notices": 0.034}
BATCH = 2_000_000  # series ids per statement, so progress shows and no statement holds the whole load


def prefixes() -> list[int]:
    """NPANXX prefixes of numbers phonenumbers takes as valid, from the bench's area codes."""
    valid = UsNormalizer()
    found = []
    for area in AREA_CODES:
        for exchange in range(200, 1000):
            try:
                valid(f"+1{area}{exchange}4567")
                valid(f"+1{area}{exchange}0123")
            except InvalidNumber:
                continue
            found.append(int(f"{area}{exchange}"))
    return found


def program() -> dict:
    """The sender codes and lists, made through the ORM (few rows), and the ids the generator maps onto."""
    from contacts.models import Carrier, SenderCode, SubscriberList

    codes, lists, list_code = [], [], []
    for index, (code, names) in enumerate(PROGRAM):
        sender = SenderCode.objects.create(code=code, kind=SenderCode.kind_for(code))
        codes.append(sender.id)
        for name in names:
            lists.append(SubscriberList.objects.create(sender_code=sender, name=name).id)
            list_code.append(index + 1)
    carriers = list(Carrier.objects.order_by("id").values_list("id", flat=True)[:3])
    suspending = Carrier.objects.filter(supports_suspension=True).order_by("id").values_list("id", flat=True)[0]
    return {"codes": codes, "lists": lists, "list_code": list_code, "carriers": carriers, "suspending": suspending}


def _dropped_definitions(cursor) -> list[str]:
    """Drop the big tables' secondary indexes and unique constraints; return the statements that rebuild them."""
    rebuild = []
    for table in BIG_TABLES:
        cursor.execute(
            """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid = %s::regclass AND contype = 'u'""",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(
            """SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
               WHERE indrelid = %s::regclass AND NOT indisprimary
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)""",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f"DROP INDEX {name}")
            rebuild.append(definition)
    return rebuild


def _step(what: str, started: float) -> float:
    """Seconds since `started`, printed as the step's progress."""
    seconds = time.perf_counter() - started
    print(f"  {what}: {seconds:.0f}s", file=sys.stderr, flush=True)
    return seconds


def generate(contacts: int, today: datetime | None = None) -> dict[str, float]:
    """Fill an empty, migrated database with `contacts` contacts' worth of data; seconds per step."""
    today = today or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    space = prefixes()
    size = len(space) * 10_000
    if contacts > size:
        sys.exit(f"at most {size:,} distinct numbers from the bench's area codes")
    mult = next(m for m in range(7_368_787, size) if math.gcd(m, size) == 1)  # a permutation of the number space
    params = {**program(), "prefixes": space, "space": size, "mult": mult, "today": today, "contacts": contacts,
              "opted_in_at": today - timedelta(days=540)}  # fmt: skip
    timings: dict[str, float] = {}
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # no triggers, no FK checks during the load
        cursor.execute("SET maintenance_work_mem = '512MB'")
        rebuild = _dropped_definitions(cursor)
        for what, template in STEPS.items():
            started = time.perf_counter()
            sql = template.format(phone=PHONE.format(n="i"), hash=HASH, out=OUT_PER_MILLE, backlog=BACKLOG)
            sql = re.sub(r"%(?!\()", "%%", sql)  # SQL's modulo, beside the query's %(name)s parameters
            rows = math.ceil(contacts * SERIES.get(what, 1))
            for first in range(1, rows + 1, BATCH):
                cursor.execute(sql, {**params, "first": first, "last": min(first + BATCH - 1, rows)})
            timings[what] = _step(what, started)
        started = time.perf_counter()
        for table in BIG_TABLES:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        for statement in rebuild:
            cursor.execute(statement)
        timings["indexes and constraints"] = _step("indexes and constraints", started)
        cursor.execute("SET session_replication_role = DEFAULT")
        started = time.perf_counter()
        for table in BIG_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
        timings["vacuum analyze"] = _step("vacuum analyze", started)
    started = time.perf_counter()
    tallies.rebuild()
    timings["tallies recount"] = _step("tallies recount", started)
    return timings
