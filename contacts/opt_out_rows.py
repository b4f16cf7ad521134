"""The operator opt-outs CSV (phone,sender_code,occurred_at[,reason]) read into batches of signals, each bad row
named (R8): numbers and timestamps checked per column, sender codes and reasons once per distinct value (R10)."""

from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from contacts import phones
from contacts.csv_columns import UTC_MICROS, add_sorted, failures, moments, per_value, read_batches
from contacts.csvio import RowErrors
from contacts.models import Reason, SenderCode
from contacts.phone_columns import FileNumberColumn

REQUIRED = ["phone", "sender_code", "occurred_at"]
OPTIONAL = ["reason"]
REASONS = {reason: at for at, reason in enumerate(Reason.values)}


class OptOutRows:
    """Turn CSV rows into opt-out signals scoped to their sender code (R2), naming each bad row (R8)."""

    def __init__(self, errors: RowErrors, *, now: datetime):
        self.errors = errors
        self.now = pa.scalar(now, UTC_MICROS)
        self.codes = dict(SenderCode.objects.values_list("code", "pk"))
        self.numbers = FileNumberColumn()
        self.count = 0

    def signals(self, stream: BinaryIO) -> Iterator[pa.Table]:
        """The file's valid rows as columns named after SIGNAL_COLUMNS (seq is the line), a table per batch."""
        for batch in read_batches(stream, required=REQUIRED, optional=OPTIONAL, kind="opt-outs"):
            self.count += len(batch)
            column = batch.columns.get
            numbers, number_errors = self.numbers(column("phone"))
            scopes, code_errors = per_value(column("sender_code"), self.sender_code)
            given = column("reason", pa.repeat(pa.scalar("", pa.string()), len(batch)))
            reasons = pc.if_else(pc.equal(given, ""), str(Reason.OPERATOR), given)
            _, reason_errors = per_value(reasons, self.reason)
            stamps, stamp_errors = moments(column("occurred_at"), column="occurred_at", now=self.now)
            errors = pc.coalesce(number_errors, code_errors, reason_errors, stamp_errors)
            add_sorted(self.errors, batch.bad + failures(batch.lines, errors))
            signals = pa.table({"seq": batch.lines, "phone": numbers, "reason": reasons, "scope_id": scopes,
                                "occurred_at": stamps}).filter(pc.is_null(errors))  # fmt: skip
            if signals.num_rows:
                yield signals

    def sender_code(self, code: str) -> tuple[int | None, str | None]:
        if code not in self.codes:
            return None, f"unknown sender code {phones.masked(code[:20])!r}"
        return self.codes[code], None

    @staticmethod
    def reason(reason: str) -> tuple[int | None, str | None]:
        if reason not in REASONS:
            return None, f"unknown reason {phones.masked(reason[:20])!r} (expected one of {', '.join(Reason.values)})"
        return REASONS[reason], None
