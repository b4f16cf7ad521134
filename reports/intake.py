"""Delivery receipts and carrier notices in: validate, record each once (R6), apply as one batch of signals.

A batch — an API request's items or a whole CSV file — is validated row by row in Python (no queries),
streamed into a staging table, and from there everything is set-based (R10): one INSERT…SELECT records
the new rows and skips replays through the tables' unique constraints, one INSERT…SELECT turns them into
signals for `contacts.services.apply_staged_signals` (the only home of R1–R7), and one UPDATE writes back
what each row caused. The whole batch is one transaction (R9).
"""

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO, ClassVar

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.utils import timezone

from contacts import ledger, phones
from contacts.csvio import RowErrors, parse_timestamp, read_rows
from contacts.models import SUSPENSION_DAYS, Carrier, Source
from contacts.services import Outcome, apply_staged_signals, signal_batch
from contacts.signal_staging import SignalBatch
from contacts.staging import StagingTable, db_datetime, execute, fetch_int
from reports.models import Channel, Effect

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(minutes=5)  # a sender's clock may run a little ahead of ours
PROGRESS_EVERY = 50_000

Progress = Callable[[int], None]  # rows read so far


class ItemResult(models.TextChoices):
    ACCEPTED = "accepted"  # recorded now and applied
    DUPLICATE = "duplicate"  # recorded before (or earlier in the same batch): nothing changed (R6)
    INVALID = "invalid"  # not recorded; the reason says why
    REJECTED = "rejected"  # recorded, but refused (a suspension from a carrier that does not suspend)


@dataclass
class IntakeResult:
    """What one batch did: row counts, effects of the new rows, and per-item answers for the API."""

    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    invalid: int = 0
    rejected: int = 0
    effects: dict[str, int] = field(default_factory=dict)
    errors: RowErrors = field(default_factory=RowErrors)
    items: list[dict] | None = None
    applied: Outcome = field(default_factory=Outcome)

    @property
    def already_ingested(self) -> bool:
        return self.duplicates > 0 and self.accepted == self.rejected == 0

    def summary(self, effects: Iterable[str], *, rejected: bool = False) -> str:
        """One line of counts for the operator commands."""
        line = f"rows={self.rows} accepted={self.accepted} duplicates={self.duplicates} invalid={self.invalid}"
        line += f" rejected={self.rejected}" if rejected else ""
        line += "".join(f" {name}={self.effects.get(name, 0)}" for name in effects)
        if self.already_ingested:
            line += " (already ingested: nothing changed)"
        return line


def text_fields(item: object, names: Iterable[str]) -> dict[str, str]:
    """A JSON item as the same {column: text} a CSV row gives, so both go through one validation."""
    if not isinstance(item, dict):
        raise ValueError("not a JSON object")
    fields = {}
    for name in names:
        value = item.get(name)
        if value is None:
            fields[name] = ""
        elif isinstance(value, str):
            if "\x00" in value:
                # PostgreSQL text cannot hold NUL: staged, it would fail the whole batch instead of this row.
                raise ValueError(f"{name} contains a NUL character")
            fields[name] = value.strip()
        elif isinstance(value, int) and not isinstance(value, bool):
            fields[name] = str(value)
        else:
            raise ValueError(f"{name} must be a string or a whole number")
    return fields


class SignalIntake:
    """The shared pipeline; a subclass names its table, staging columns, validation and replay key."""

    model: ClassVar[type[models.Model]]
    kind: ClassVar[str]  # "receipt" / "carrier notice", for messages
    source: ClassVar[Source]  # recorded on the opt-out events and suspensions it causes (R7)
    staging: ClassVar[str]  # the staging table's name
    columns: ClassVar[dict[str, str]]  # staging columns besides the common ones
    recorded: ClassVar[list[str]]  # staging columns copied into the model's table
    replay_keys: ClassVar[list[str]]  # join conditions between staged row b and record r: one per key kind
    insert_order: ClassVar[str]  # one global order, so two batches never wait on each other crosswise
    effects: ClassVar[tuple[str, ...]]  # the effect counts the summary line shows
    can_reject: ClassVar[bool] = False  # some valid rows are recorded but refused
    feeds_ledger: ClassVar[bool] = False  # its deactivations and disconnections go into the ledger (R13)
    FIELDS: ClassVar[list[str]]  # what a row or item may carry
    REQUIRED: ClassVar[list[str]]  # the CSV header's required columns; the other FIELDS are optional

    COMMON = {
        "seq": "int",  # the item's index or the CSV line
        "phone": "text",
        "occurred_at": "ts",
        "carrier_id": "int",
        "action": "text",  # the signal to apply; NULL for none
        "reason": "text",
        "scope_id": "int",
        "until_at": "ts",
        "error_code": "int",
        "outcome": "text",
        "record_id": "int",  # the row recorded from this one; NULL for a replay
    }

    def __init__(self, *, channel: Channel, now: datetime | None = None) -> None:
        self.channel = channel
        self.now = now or timezone.now()  # the clock validation judges "in the future" by
        self.numbers = phones.FileNumbers()
        self.carriers = Carrier.by_name()

    def stage(self, fields: dict[str, str]) -> dict:
        """One row's staging values; raise ValueError with the reason when it is invalid."""
        raise NotImplementedError

    def ingest_file(self, stream: BinaryIO, *, progress: Progress | None = None) -> IntakeResult:
        """A whole CSV file as one batch; BadFile when it is not this kind of CSV, and then nothing changes."""
        errors = RowErrors()
        optional = [name for name in self.FIELDS if name not in self.REQUIRED]
        rows = read_rows(stream, required=self.REQUIRED, optional=optional, kind=f"{self.kind}s", errors=errors)
        return self.ingest(rows, errors=errors, progress=progress)

    def ingest_items(self, items: list) -> IntakeResult:
        """An API request's items as one batch, with an answer per item."""
        return self.ingest(enumerate(items), per_item=True)

    def until(self, occurred_at: datetime) -> datetime:
        """When a suspension starting then is due to end (R5a)."""
        return occurred_at + SUSPENSION_DAYS

    def timestamp(self, text: str, name: str = "occurred_at") -> datetime:
        if not text:
            raise ValueError(f"{name} is required")
        try:
            value = parse_timestamp(text)
        except ValueError:
            raise ValueError(
                f"{name} is not an ISO-8601 timestamp: {phones.masked(text[:40], moment=True)!r}"
            ) from None
        if value > self.now + CLOCK_SKEW:
            raise ValueError(f"{name} is in the future")
        return value

    def carrier(self, name: str) -> Carrier:
        carrier = self.carriers.get(name.lower())
        if carrier is None:
            raise ValueError(f"unknown carrier {phones.masked(name[:40])!r}")
        return carrier

    def ingest(
        self,
        rows: Iterable[tuple[int, object]],
        *,
        per_item: bool = False,
        errors: RowErrors | None = None,
        progress: Progress | None = None,
    ) -> IntakeResult:
        """Record and apply a batch of (seq, row or item) pairs; replays and invalid rows change nothing."""
        result = IntakeResult(errors=errors or RowErrors())
        invalid: dict[int, str] = {}
        names = list(self.COMMON) + list(self.columns)
        # This batch's mark on what it records: its receipt time, and ids above the highest one before it.
        stamp = timezone.now()
        with transaction.atomic(), StagingTable(self.staging, {**self.COMMON, **self.columns}) as batch:
            floor = fetch_int(f"SELECT MAX(id) FROM {self.model._meta.db_table}")
            staged = self._staged(rows, names, result, invalid if per_item else None, progress)
            batch.load(names, staged)
            self._index()
            self._record(stamp)
            self._match(stamp, floor)
            with signal_batch() as signals:
                self._signal(signals)
                result.applied = apply_staged_signals(signals, source=self.source, now=stamp)
                if self.feeds_ledger:
                    # Issue 17: deactivated and disconnected numbers into the reassigned-number ledger (R13).
                    ledger.record_staged_deactivations(signals)
                self._write_effects(signals)
            self._count(result)
            if per_item:
                result.items = self._items(invalid)
        log.info(
            "%ss ingested channel=%s rows=%d accepted=%d duplicates=%d invalid=%d rejected=%d",
            self.kind, self.channel, result.rows, result.accepted, result.duplicates, result.invalid, result.rejected,
        )  # fmt: skip
        return result

    def _staged(self, rows, names, result: IntakeResult, invalid: dict[int, str] | None, progress) -> Iterator[tuple]:
        """Valid rows as staging tuples; invalid ones are counted and named (R8), never staged."""
        read = 0
        for seq, raw in rows:
            read += 1
            if progress and read % PROGRESS_EVERY == 0:
                progress(read)
            try:
                values = self.stage(text_fields(raw, self.FIELDS))
            except ValueError as exc:
                result.errors.add(seq, str(exc))
                if invalid is not None:
                    invalid[seq] = str(exc)
                continue
            values["seq"] = seq
            yield tuple(values.get(name) for name in names)
        if progress:
            progress(read)

    def _index(self) -> None:
        # SQLite joins the matches back by scanning the batch once per row without it.
        execute(f"CREATE INDEX {self.staging}_seq ON {self.staging} (seq)")

    def _record(self, stamp: datetime) -> None:
        """Insert the new rows; a unique constraint skips each replay, even one committed a moment ago (R6)."""
        table = self.model._meta.db_table
        columns = ", ".join(self.recorded)
        # WHERE true: SQLite would otherwise read ON CONFLICT as part of the SELECT's join.
        execute(
            f"""
            INSERT INTO {table} ({columns}, source, received_at)
            SELECT {columns}, %s, %s FROM {self.staging} WHERE true ORDER BY {self.insert_order}
            ON CONFLICT DO NOTHING
            """,
            [self.channel, db_datetime(stamp)],
        )

    def _match(self, stamp: datetime, floor: int) -> None:
        """Point each staged row at the record it made; of a batch's repeats the first gets it, the rest none."""
        table = self.model._meta.db_table
        # Each staged row probes the table by its key (CROSS JOIN: SQLite keeps this loop order), and only
        # then is the record checked to be this batch's: filtering by receipt time inside the join would
        # have SQLite walk all of this batch's records for every staged row.
        for key in self.replay_keys:
            execute(
                f"""
                UPDATE {self.staging} SET record_id = m.id FROM (
                    SELECT r.id, MIN(b.seq) AS seq FROM {self.staging} b CROSS JOIN {table} r WHERE {key}
                    GROUP BY r.id HAVING MIN(r.id) > %s AND MIN(r.received_at) = %s
                ) m
                WHERE {self.staging}.seq = m.seq
                """,
                [floor, db_datetime(stamp)],
            )

    def _signal(self, signals: SignalBatch) -> None:
        """The new rows that say something about a number become signals carrying their record (R7)."""
        ref_type = ContentType.objects.get_for_model(self.model).pk
        columns = ["seq", "phone", "action", "reason", "scope_id", "occurred_at", "until_at", "error_code",
                   "carrier_id", "ref_type_id", "ref_id"]  # fmt: skip
        signals.load_query(
            columns,
            f"""
            SELECT seq, phone, action, reason, scope_id, occurred_at, until_at, error_code, carrier_id, %s, record_id
            FROM {self.staging} WHERE record_id IS NOT NULL AND action IS NOT NULL
            """,
            [ref_type],
        )
        signals.loaded()

    def _write_effects(self, signals: SignalBatch) -> None:
        """Read back what each applied signal caused and write it on its record (R7)."""
        table = self.model._meta.db_table
        e = {effect.name: f"'{effect.value}'" for effect in Effect}  # our own vocabulary, never input
        # Only reads: the contact and carrier on file are looked up here again rather than taken from the
        # service's working tables, and the stale case repeats R3's comparison only to name why nothing
        # happened — the rules already decided it.
        execute(
            f"""
            UPDATE {table} SET outcome = CASE
                WHEN s.contact_id IS NULL THEN {e["NOT_FOUND"]}
                WHEN s.action = 'opt_out' AND EXISTS (
                    SELECT 1 FROM contacts_optoutevent o WHERE o.ref_type_id = s.ref_type_id AND o.ref_id = s.ref_id
                ) THEN {e["OPTED_OUT"]}
                WHEN s.action = 'opt_out' AND EXISTS (
                    SELECT 1 FROM contacts_subscription sub JOIN contacts_subscriberlist l ON l.id = sub.list_id
                    WHERE sub.contact_id = s.contact_id AND sub.status = 'opted_in' AND sub.opted_in_at > s.occurred_at
                      AND (s.scope_id IS NULL OR l.sender_code_id = s.scope_id)
                ) THEN {e["STALE"]}
                WHEN s.action = 'suspend' AND EXISTS (
                    SELECT 1 FROM contacts_suspension su WHERE su.contact_id = s.contact_id
                      AND su.ref_type_id = s.ref_type_id AND su.ref_id = s.ref_id
                ) THEN {e["SUSPENDED"]}
                WHEN s.action = 'suspend' AND NOT EXISTS (
                    SELECT 1 FROM contacts_carrier ca WHERE ca.id = s.carrier_id AND ca.supports_suspension
                ) THEN {e["UNSUPPORTED"]}
                WHEN s.action = 'reactivate' AND EXISTS (
                    SELECT 1 FROM contacts_suspension su WHERE su.contact_id = s.contact_id
                      AND su.end_reason = 'reactivated' AND su.ended_at = s.occurred_at
                ) THEN {e["REACTIVATED"]}
                ELSE {e["UNCHANGED"]}
            END
            FROM (
                SELECT b.ref_type_id, b.ref_id, b.action, b.scope_id, b.occurred_at, c.id AS contact_id,
                       COALESCE(b.carrier_id, c.carrier_id) AS carrier_id
                FROM ({signals.signals_sql()}) b LEFT JOIN contacts_contact c ON c.phone = b.phone
            ) s
            WHERE {table}.id = s.ref_id
            """
        )

    def _count(self, result: IntakeResult) -> None:
        table = self.model._meta.db_table
        staged = fetch_int(f"SELECT COUNT(*) FROM {self.staging}")
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT r.outcome, COUNT(*) FROM {self.staging} b JOIN {table} r ON r.id = b.record_id "
                "GROUP BY r.outcome"
            )
            result.effects = dict(cursor.fetchall())
        recorded = sum(result.effects.values())
        result.rejected = self.rejected_count()
        result.accepted = recorded - result.rejected
        result.duplicates = staged - recorded
        result.invalid = result.errors.count
        result.rows = result.accepted + result.rejected + result.duplicates + result.invalid

    def rejected_count(self) -> int:
        return 0

    def _items(self, invalid: dict[int, str]) -> list[dict]:
        """The API's answer per item, in the order sent."""
        table = self.model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT b.seq, b.record_id, r.outcome, {self.rejection_sql} FROM {self.staging} b "
                f"LEFT JOIN {table} r ON r.id = b.record_id"
            )
            staged = {seq: (record_id, outcome, rejection) for seq, record_id, outcome, rejection in cursor.fetchall()}
        items = []
        for seq in sorted([*staged, *invalid]):
            if seq in invalid:
                items.append({"index": seq, "result": ItemResult.INVALID, "reason": invalid[seq]})
                continue
            record_id, outcome, rejection = staged[seq]
            if record_id is None:
                items.append({"index": seq, "result": ItemResult.DUPLICATE})
            elif rejection:
                items.append({"index": seq, "result": ItemResult.REJECTED, "id": record_id, "reason": rejection})
            else:
                items.append({"index": seq, "result": ItemResult.ACCEPTED, "id": record_id, "outcome": outcome})
        return items

    rejection_sql = "NULL"  # a staging expression giving a rejected row's reason
