"""The reassigned-number ledger: every deactivation and disconnection we are told of, contact or not (R13).

Written set-based from the staged signals of a report or a notice batch, in that batch's transaction
(R9, R10), into the recent tier; `fold` moves those rows into the ledger proper, one row per number and
day (R6), sorted and off the ingestion path. Read through one comparison over both tiers — a deactivation
on or after the consent's UTC day voids the consent — used by the opt-ins (contacts.consent) and by the
reassigned-number answers alike.
"""

import logging
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction

from contacts.ledger_models import DeactivatedNumber, LedgerRow, RecentDeactivation
from contacts.models import Contact, Reason
from contacts.signal_staging import SignalBatch
from contacts.staging import execute

log = logging.getLogger(__name__)

TABLE = DeactivatedNumber._meta.db_table
RECENT = RecentDeactivation._meta.db_table
COLUMNS = "number, deactivated_on, ref_type_id, ref_id"
# The signals that put a number in the ledger: the line went back to the carrier, to be handed on.
LEDGER_REASONS = (Reason.DEACTIVATED, Reason.DISCONNECTED)


def number_key(e164: str) -> int:
    """The ledger's form of an E.164 number: its digits as an integer."""
    return int(e164.removeprefix("+"))


def key_sql(phone: str) -> str:
    """SQL turning an E.164 text column into the ledger's number."""
    return f"CAST(SUBSTR({phone}, 2) AS BIGINT)"


def utc_day_sql(timestamp: str) -> str:
    """SQL for the UTC day of a staged timestamp (SQLite stores Django's UTC text)."""
    if connection.vendor == "postgresql":
        return f"(({timestamp}) AT TIME ZONE 'UTC')::date"
    return f"date({timestamp})"


def deactivated_since_sql(row: str, phone: str, consented_at: str) -> str:
    """SQL condition: ledger row `row` is a deactivation of `phone` (E.164) on or after `consented_at`'s UTC day.

    The one comparison of R13 and of the `yes` answer: a deactivation on the consent's own day counts,
    since a report gives only the day. Answered from the primary key's index alone.
    """
    return f"{row}.number = {key_sql(phone)} AND {row}.deactivated_on >= {utc_day_sql(consented_at)}"


def first_deactivations_sql(table: str, key: str, phone: str, consented_at: str) -> str:
    """SQL giving (key, first) for each row of `table` with a deactivation since its consent, over both tiers.

    The ledger proper is probed through its primary key; the recent tier, small and unindexed, by a join
    the planner hashes.
    """
    branches = " UNION ALL ".join(
        f"SELECT t.{key} AS key, d.deactivated_on AS first FROM {table} t "
        f"JOIN {tier} d ON {deactivated_since_sql('d', f't.{phone}', f't.{consented_at}')}"
        for tier in (TABLE, RECENT)
    )
    return f"SELECT x.key, MIN(x.first) AS first FROM ({branches}) x GROUP BY x.key"


def as_date(value) -> date | None:
    """A date the database returned: a date on PostgreSQL, ISO text on SQLite."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def record_staged_deactivations(batch: SignalBatch) -> int:
    """Append the deactivations and disconnections among a batch's staged signals to the ledger.

    One statement, in the caller's transaction, into the recent tier: an append that never touches the
    ledger's big B-tree (`fold` does that later, sorted). Returns the rows appended.
    """
    reasons = ", ".join(f"'{reason.value}'" for reason in LEDGER_REASONS)  # our own vocabulary, never input
    added = execute(
        f"""
        INSERT INTO {RECENT} ({COLUMNS})
        SELECT {key_sql("phone")}, {utc_day_sql("occurred_at")}, ref_type_id, ref_id FROM ({batch.signals_sql()}) b
        WHERE action = 'opt_out' AND scope_id IS NULL AND reason IN ({reasons})
        """
    )
    log.info("ledger recorded added=%d", added)
    return added


@transaction.atomic
def fold() -> int:
    """Move the recent tier into the ledger proper: one row per number and day, the first source kept (R6).

    Sorted by the key, the inserts walk the B-tree in order. Rows a report commits meanwhile stay for the
    next fold: PostgreSQL deletes exactly the rows it moves; SQLite has one writer at a time.
    """
    if connection.vendor == "postgresql":
        moved = execute(
            f"""
            WITH moved AS (DELETE FROM {RECENT} RETURNING id, {COLUMNS})
            INSERT INTO {TABLE} ({COLUMNS})
            SELECT {COLUMNS} FROM moved ORDER BY number, deactivated_on, id
            ON CONFLICT DO NOTHING
            """
        )
    else:
        moved = execute(
            f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM {RECENT} WHERE true "
            "ORDER BY number, deactivated_on, id ON CONFLICT DO NOTHING"
        )
        execute(f"DELETE FROM {RECENT}")
    log.info("ledger folded added=%d", moved)
    return moved


def retention_cutoff(today: date) -> date:
    """The first day the ledger still keeps (LEDGER_RETENTION_DAYS)."""
    return today - timedelta(days=settings.LEDGER_RETENTION_DAYS)


def prune(*, today: date) -> int:
    """Delete the ledger rows older than LEDGER_RETENTION_DAYS, in both tiers; the day's BRIN index finds them."""
    cutoff = retention_cutoff(today)
    deleted = sum(
        model.objects.filter(deactivated_on__lt=cutoff).delete()[0] for model in (DeactivatedNumber, RecentDeactivation)
    )
    log.info("ledger pruned deleted=%d before=%s", deleted, cutoff)
    return deleted


def rows_for(contact: Contact) -> list[LedgerRow]:
    """The ledger's rows for a contact's number, both tiers, oldest first, with what carried them."""
    key = number_key(contact.phone)
    rows = [
        *DeactivatedNumber.objects.filter(number=key).select_related("ref_type"),
        *RecentDeactivation.objects.filter(number=key).select_related("ref_type"),
    ]
    return sorted(rows, key=lambda row: row.deactivated_on)
