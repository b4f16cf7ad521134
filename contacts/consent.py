"""Opt-ins, set-based: new consent with its own timestamp, never a silent re-subscribe (R3, R4, R13).

An opted-out subscription comes back only for a consent given *after* it was opted out;
an older one is refused and reported, and so is a consent given on or before a known
deactivation of the number (the ledger, R13): it belonged to the previous owner. One operator click is a batch of one; a
2-million-row import is one batch loaded with `COPY`.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime

import pyarrow as pa

from django.db import connection, transaction
from django.utils import timezone

from contacts import ledger, phones
from contacts.models import Source, SubscriberList
from contacts.staging import StagingTable, db_datetime, execute, fetch_int

log = logging.getLogger(__name__)

REFUSED_SAMPLES = 100

OPT_IN_COLUMNS = {
    "seq": "int",
    "phone": "text",
    "list_id": "int",
    "opted_in_at": "ts",
    "email": "text",
    "carrier_id": "int",
    "contact_id": "int",
    "subscription_id": "int",
}


@dataclass(frozen=True)
class OptIn:
    number: str  # E.164
    list_id: int
    opted_in_at: datetime
    email: str = ""
    carrier_id: int | None = None
    line: int | None = None  # the file's line number, for refusal samples


@dataclass
class OptInOutcome:
    rows: int = 0
    duplicates: int = 0  # the same number and list again in the batch: the newest consent counts
    contacts_created: int = 0
    created: int = 0  # new subscriptions
    renewed: int = 0  # opted in already; consent timestamp moved forward
    reopted: int = 0  # opted out before, new consent after the opt-out (R4)
    unchanged: int = 0
    refused: int = 0  # opted out, or the number deactivated, after this consent was given (R4, R13)
    refused_samples: list[dict] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "refused_samples"}


def opt_in_batch() -> StagingTable:
    return StagingTable("opt_in_batch", OPT_IN_COLUMNS)


@transaction.atomic
def apply_opt_ins(opt_ins: Iterable[OptIn], *, source: Source, now: datetime | None = None) -> OptInOutcome:
    """Record explicit opt-ins per R4, set-based."""
    rows = (
        (o.line or seq, o.number, o.list_id, o.opted_in_at, o.email, o.carrier_id)
        for seq, o in enumerate(opt_ins, start=1)
    )
    with opt_in_batch() as batch:
        batch.load(["seq", "phone", "list_id", "opted_in_at", "email", "carrier_id"], rows)
        return apply_staged_opt_ins(source=source, now=now)


@transaction.atomic
def apply_opt_in_columns(batches: Iterable[pa.Table], *, source: Source, now: datetime | None = None) -> OptInOutcome:
    """Record explicit opt-ins per R4 from batches of columns named as OPT_IN_COLUMNS (seq is the file's line):
    one COPY per batch, then the same set-based statements."""
    with opt_in_batch() as batch:
        for columns in batches:
            batch.load_columns(columns)
        batch.analyze()
        return apply_staged_opt_ins(source=source, now=now)


def apply_staged_opt_ins(*, source: Source, now: datetime | None = None) -> OptInOutcome:
    """Apply the opt-ins loaded into the opt_in_batch table, in the caller's transaction."""
    now = db_datetime(now or timezone.now())
    out = OptInOutcome(rows=fetch_int("SELECT COUNT(*) FROM opt_in_batch"))
    # The newest consent per number and list stands for the batch.
    execute("DROP TABLE IF EXISTS opt_in_row")
    execute(
        """
        CREATE TEMPORARY TABLE opt_in_row AS SELECT ranked.*, CAST(NULL AS date) AS deactivated_on FROM (
            SELECT b.*, ROW_NUMBER() OVER (PARTITION BY phone, list_id ORDER BY opted_in_at DESC, seq) AS rank
            FROM opt_in_batch b) ranked
        WHERE rank = 1
        """
    )
    out.duplicates = out.rows - fetch_int("SELECT COUNT(*) FROM opt_in_row")
    # R13: the first known deactivation of the number on or after the consent's day voids it.
    execute(
        f"""
        UPDATE opt_in_row SET deactivated_on = f.first
        FROM ({ledger.first_deactivations_sql("opt_in_row", "seq", "phone", "opted_in_at")}) f
        WHERE f.key = opt_in_row.seq
        """
    )
    voided = _voided_samples()
    out.refused = execute("DELETE FROM opt_in_row WHERE deactivated_on IS NOT NULL")
    # Contacts the file names again take its email and carrier, where it gives them and they differ; done before
    # the new contacts are added, which are created with theirs (a rewrite would cost a row version each).
    execute(
        """
        UPDATE contacts_contact SET
            email = CASE WHEN x.email <> '' THEN x.email ELSE contacts_contact.email END,
            carrier_id = COALESCE(x.carrier_id, contacts_contact.carrier_id)
        FROM (SELECT phone, MAX(COALESCE(email, '')) AS email, MAX(carrier_id) AS carrier_id
              FROM opt_in_row GROUP BY phone) x
        WHERE contacts_contact.phone = x.phone
          AND ((x.email <> '' AND x.email <> contacts_contact.email)
               OR (x.carrier_id IS NOT NULL
                   AND (contacts_contact.carrier_id IS NULL OR x.carrier_id <> contacts_contact.carrier_id)))
        """
    )
    out.contacts_created = execute(
        """
        INSERT INTO contacts_contact (phone, email, carrier_id, created_at)
        SELECT phone, MAX(COALESCE(email, '')), MAX(carrier_id), %s FROM opt_in_row WHERE true GROUP BY phone
        ON CONFLICT (phone) DO NOTHING
        """,
        [now],
    )
    execute("UPDATE opt_in_row SET contact_id = c.id FROM contacts_contact c WHERE c.phone = opt_in_row.phone")
    execute(
        """
        UPDATE opt_in_row SET subscription_id = s.id FROM contacts_subscription s
        WHERE s.contact_id = opt_in_row.contact_id AND s.list_id = opt_in_row.list_id
        """
    )
    refused = """
        FROM opt_in_row r JOIN contacts_subscription s ON s.id = r.subscription_id
        WHERE s.status = 'opted_out' AND r.opted_in_at <= s.opted_out_at
    """
    out.refused += fetch_int(f"SELECT COUNT(*) {refused}")
    out.refused_samples = sorted(voided + _refused_samples(refused), key=lambda s: s["line"])[:REFUSED_SAMPLES]
    out.created = execute(
        """
        INSERT INTO contacts_subscription (contact_id, list_id, status, opted_in_at, opt_in_source, opt_out_reason)
        SELECT contact_id, list_id, 'opted_in', opted_in_at, %s, '' FROM opt_in_row
        WHERE subscription_id IS NULL
        """,
        [source],
    )
    out.renewed = execute(
        """
        UPDATE contacts_subscription SET opted_in_at = r.opted_in_at, opt_in_source = %s
        FROM opt_in_row r
        WHERE contacts_subscription.id = r.subscription_id AND contacts_subscription.status = 'opted_in'
          AND r.opted_in_at > contacts_subscription.opted_in_at
        """,
        [source],
    )
    # R4: a consent given after the opt-out starts a new subscription period; events stay.
    out.reopted = execute(
        """
        UPDATE contacts_subscription SET status = 'opted_in', opted_in_at = r.opted_in_at, opt_in_source = %s,
            opted_out_at = NULL, opt_out_reason = '', opt_out_event_id = NULL
        FROM opt_in_row r
        WHERE contacts_subscription.id = r.subscription_id AND contacts_subscription.status = 'opted_out'
          AND r.opted_in_at > contacts_subscription.opted_out_at
        """,
        [source],
    )
    out.unchanged = out.rows - out.duplicates - out.created - out.renewed - out.reopted - out.refused
    execute("DROP TABLE opt_in_row")
    log.info("opt-ins applied source=%s %s", source, " ".join(f"{k}={v}" for k, v in out.counts().items() if v))
    return out


def _refused_samples(refused: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT r.seq, s.opt_out_reason {refused} ORDER BY r.seq LIMIT {REFUSED_SAMPLES}")
        return [
            {"line": seq, "reason": f"opted out ({reason}) after this consent; a newer opt-in is needed"}
            for seq, reason in cursor.fetchall()
        ]


def _voided_samples() -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, deactivated_on FROM opt_in_row WHERE deactivated_on IS NOT NULL "
            f"ORDER BY seq LIMIT {REFUSED_SAMPLES}"
        )
        return [
            {"line": seq, "reason": f"number deactivated on {ledger.as_date(day)}, after this consent"}
            for seq, day in cursor.fetchall()
        ]


def opt_in(
    *, number: str, subscriber_list: SubscriberList, opted_in_at: datetime, source: Source = Source.OPERATOR
) -> OptInOutcome:
    """One explicit opt-in (R4): a batch of one."""
    return apply_opt_ins([OptIn(phones.normalize(number), subscriber_list.pk, opted_in_at)], source=source)
