"""Benchmark data: contacts over a few lists, loaded straight into the tables, and report files.

Numbers are drawn from exchanges phonenumbers accepts as valid US numbers, so a report's
matching rows are real matches and only the rows written as invalid are invalid.
"""

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

from django.db import connection, transaction

from contacts.models import SenderCode, SubscriberList
from contacts.phones import InvalidNumber, UsNormalizer

AREA_CODES = ["201", "202", "212", "213", "305", "312", "415", "503", "617", "646", "702", "713", "718", "801", "917"]
OPTED_IN_AT = datetime(2025, 6, 1, tzinfo=UTC)


def numbers(count: int, *, seed: int, exclude: set[str] | None = None) -> list[str]:
    """`count` distinct valid US numbers in E.164."""
    rng = random.Random(seed)
    valid = UsNormalizer()
    found: set[str] = set()
    exclude = exclude or set()
    while len(found) < count:
        candidate = f"+1{rng.choice(AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        if candidate in found or candidate in exclude:
            continue
        try:
            valid(candidate)
        except InvalidNumber:
            continue
        found.add(candidate)
    return sorted(found, key=lambda _: rng.random())


@transaction.atomic
def load_contacts(phones: list[str], *, one_list: bool = False) -> list[int]:
    """Contacts subscribed to one or two of three lists over two sender codes (or all to one list); list ids."""
    codes = [SenderCode.objects.create(code=code, kind=SenderCode.kind_for(code)) for code in ("45678", "+18885550100")]
    lists = [SubscriberList.objects.create(sender_code=codes[0], name="Alerts")]
    if not one_list:
        lists += [
            SubscriberList.objects.create(sender_code=codes[0], name="Offers"),
            SubscriberList.objects.create(sender_code=codes[1], name="Care"),
        ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM contacts_contact")
        first_id = cursor.fetchone()[0] + 1
    _copy("contacts_contact", ["id", "phone", "email", "created_at"],
          ((first_id + i, phone, "", OPTED_IN_AT) for i, phone in enumerate(phones)))  # fmt: skip
    _copy(
        "contacts_subscription",
        ["contact_id", "list_id", "status", "opted_in_at", "opt_in_source", "opt_out_reason"],
        _subscriptions(first_id, len(phones), [lst.id for lst in lists]),
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval('contacts_contact_id_seq', %s)", [first_id + len(phones)])
            cursor.execute("ANALYZE contacts_contact")
            cursor.execute("ANALYZE contacts_subscription")
    return [lst.id for lst in lists]


def _subscriptions(first_id: int, count: int, list_ids: list[int]) -> Iterator[tuple]:
    for i in range(count):
        contact_id = first_id + i
        yield contact_id, list_ids[i % len(list_ids)], "opted_in", OPTED_IN_AT, "import", ""
        if i % 2 == 0 and len(list_ids) > 1:
            yield contact_id, list_ids[(i + 1) % len(list_ids)], "opted_in", OPTED_IN_AT, "import", ""


def _copy(table: str, columns: list[str], rows) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            adapt = connection.ops.adapt_datetimefield_value
            marks = ", ".join("?" * len(columns))
            cursor.cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                (tuple(adapt(v) if isinstance(v, datetime) else v for v in row) for row in rows),
            )


# The four ways numbers are written in the reports we meet: E.164, 11 digits, 10 digits, (NPA) NXX-XXXX.
STYLES = (
    lambda n: n,
    lambda n: n[1:],
    lambda n: n[2:],
    lambda n: f"({n[2:5]}) {n[5:8]}-{n[8:]}",
)


def write_report(path: Path, *, contacts: list[str], rows: int, matches: int, invalid_rate: float, seed: int,
                 day: date) -> list[str]:  # fmt: skip
    """A deactivation report of `rows` lines, numbers in four styles in turn; returns the valid numbers written."""
    rng = random.Random(seed)
    hits = rng.sample(contacts, matches)
    invalid = int(rows * invalid_rate)
    others = numbers(rows - len(hits) - invalid, seed=seed + 1, exclude=set(contacts))
    valid = hits + others
    rng.shuffle(valid)
    lines = [STYLES[i % 4](n) for i, n in enumerate(valid)] + [
        "555012" if i % 2 else "+442079460958" for i in range(invalid)
    ]
    rng.shuffle(lines)
    with open(path, "w") as out:
        out.write("phone_number,deactivation_date\n")
        stamp = day.isoformat()
        out.writelines(f"{line},{stamp}\n" for line in lines)
    return valid
