"""The reassigned-number ledger: every deactivation and disconnection we are told of, contact or not (R13).

Written set-based from the staged signals of a report or a notice batch, in that batch's transaction
(R9, R10), one row per number and day (R6). Read through one comparison — a deactivation on or after
the consent's UTC day voids the consent — used by the opt-ins (contacts.consent) and by the
reassigned-number answers alike.
"""

import logging
from datetime import date, timedelta

from django.conf import settings
from django.db import connection

from contacts.ledger_models import DeactivatedNumber
from contacts.models import Contact, Reason
from contacts.staging import execute

log = logging.getLogger(__name__)

TABLE = DeactivatedNumber._meta.db_table
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


def first_deactivation_sql(phone: str, consented_at: str) -> str:
    """SQL for the first known deactivation of `phone` since `consented_at` (deactivated_since_sql), or NULL."""
    return f"(SELECT MIN(d.deactivated_on) FROM {TABLE} d WHERE {deactivated_since_sql('d', phone, consented_at)})"


def as_date(value) -> date | None:
    """A date the database returned: a date on PostgreSQL, ISO text on SQLite."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def record_staged_deactivations() -> int:
    """Add the deactivations and disconnections among the staged signals (`signal_batch`) to the ledger.

    One statement, in the caller's transaction; a number and day already known is left as it is, so a
    replay adds nothing (R6). Returns the rows added.
    """
    reasons = ", ".join(f"'{reason.value}'" for reason in LEDGER_REASONS)  # our own vocabulary, never input
    # Sorted by the key, the inserts walk the index in order instead of jumping about a large B-tree.
    added = execute(
        f"""
        INSERT INTO {TABLE} (number, deactivated_on, ref_type_id, ref_id)
        SELECT {key_sql("phone")}, {utc_day_sql("occurred_at")}, ref_type_id, ref_id FROM signal_batch
        WHERE action = 'opt_out' AND scope_id IS NULL AND reason IN ({reasons})
        ORDER BY 1, 2
        ON CONFLICT DO NOTHING
        """
    )
    log.info("ledger recorded added=%d", added)
    return added


def retention_cutoff(today: date) -> date:
    """The first day the ledger still keeps (LEDGER_RETENTION_DAYS)."""
    return today - timedelta(days=settings.LEDGER_RETENTION_DAYS)


def prune(*, today: date) -> int:
    """Delete the ledger rows older than LEDGER_RETENTION_DAYS; one statement, the day's BRIN index finds them."""
    deleted, _ = DeactivatedNumber.objects.filter(deactivated_on__lt=retention_cutoff(today)).delete()
    log.info("ledger pruned deleted=%d before=%s", deleted, retention_cutoff(today))
    return deleted


def rows_for(contact: Contact) -> list[DeactivatedNumber]:
    """The ledger's rows for a contact's number, oldest first, with what carried them."""
    rows = DeactivatedNumber.objects.filter(number=number_key(contact.phone)).select_related("ref_type")
    return list(rows.order_by("deactivated_on"))
