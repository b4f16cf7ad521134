"""The subscriptions CSV (phone,sender_code,list,opted_in_at[,email,carrier]) read into opt-ins, each bad row named.

Shared by `import_subscriptions` and the operator imports: one reading of the file, whatever applies it. The file
arrives in batches of columns (`csv_columns`); numbers, timestamps and emails are checked per column, sender
codes, lists and carriers once per distinct value of a batch (R8, R10).
"""

from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from django.utils import timezone

from contacts import phones
from contacts.csv_columns import NO_REASON, UTC_MICROS, RowBatch, add_sorted, failures, moments, per_value, read_batches
from contacts.csvio import RowErrors
from contacts.models import Carrier, SenderCode, SubscriberList
from contacts.phone_columns import FileNumberColumn

REQUIRED = ["phone", "sender_code", "list", "opted_in_at"]
OPTIONAL = ["email", "carrier"]


class SubscriptionRows:
    """Turn CSV rows into opt-ins (columns named as consent.OPT_IN_COLUMNS), naming each bad row (R8)."""

    def __init__(self, errors: RowErrors, *, create_lists: bool):
        self.errors = errors
        self.create_lists = create_lists
        self.lists = {
            (lst.sender_code.code, lst.name): lst.pk for lst in SubscriberList.objects.select_related("sender_code")
        }
        self.codes = set(SenderCode.objects.values_list("code", flat=True))
        self.carriers = Carrier.by_name()
        self.numbers = FileNumberColumn()
        self.now = pa.scalar(timezone.now(), UTC_MICROS)
        self.count = 0

    def opt_ins(self, stream: BinaryIO) -> Iterator[pa.Table]:
        """The file's valid opt-ins, a table of columns per batch of rows; the others counted and sampled."""
        for batch in read_batches(stream, required=REQUIRED, optional=OPTIONAL, kind="subscriptions"):
            self.count += len(batch)
            opt_ins, bad = self.checked(batch)
            add_sorted(self.errors, batch.bad + bad)
            if opt_ins.num_rows:
                yield opt_ins

    def checked(self, batch: RowBatch) -> tuple[pa.Table, list[tuple[int, str]]]:
        """A batch's opt-ins, and its bad rows with the reason the first failing check gives, in the order
        phone, sender code and list, opted_in_at, carrier, email."""
        blank = pa.repeat(pa.scalar("", pa.string()), len(batch))
        column = batch.columns.get
        numbers, number_errors = self.numbers(column("phone"))
        list_ids, list_errors = self.list_ids(column("sender_code"), column("list"), pc.is_null(number_errors))
        stamps, stamp_errors = moments(column("opted_in_at"), column="opted_in_at", now=self.now)
        carrier_ids, carrier_errors = per_value(column("carrier", blank), self.carrier)
        email = column("email", blank)
        bad_email = pc.and_(pc.not_equal(email, ""), pc.or_(pc.invert(pc.match_substring(email, "@")),
                                                            pc.greater(pc.utf8_length(email), 254)))  # fmt: skip
        email_errors = pc.if_else(bad_email, "invalid email", NO_REASON)
        errors = pc.coalesce(number_errors, list_errors, stamp_errors, carrier_errors, email_errors)
        opt_ins = pa.table({"seq": batch.lines, "phone": numbers, "list_id": list_ids, "opted_in_at": stamps,
                            "email": email, "carrier_id": carrier_ids})  # fmt: skip
        return opt_ins.filter(pc.is_null(errors)), failures(batch.lines, errors)

    def list_ids(self, codes: pa.Array, names: pa.Array, wanted: pa.Array) -> tuple[pa.Array, pa.Array]:
        """Each row's list id, or why not; a list is looked up (or created) only for rows `wanted`, as a row
        with a bad number never created one."""
        missing = pc.or_(pc.equal(codes, ""), pc.equal(names, ""))
        keys = pc.binary_join_element_wise(codes, names, "\x00")  # a NUL never reaches here (csvio)
        keys = pc.if_else(pc.and_(wanted, pc.invert(missing)), keys, pa.scalar(None, pa.string()))
        ids, reasons = per_value(keys, lambda key: (None, None) if key is None else self.list_or_reason(key))
        return ids, pc.if_else(missing, "sender_code and list are required", reasons)

    def list_or_reason(self, key: str) -> tuple[int | None, str | None]:
        try:
            return self.list_id(*key.split("\x00")), None
        except ValueError as exc:
            return None, str(exc)

    def carrier(self, name: str) -> tuple[int | None, str | None]:
        """A carrier named in the file (none when blank), or why not."""
        if not name:
            return None, None
        if name.lower() not in self.carriers:
            return None, f"unknown carrier {phones.masked(name[:40])!r}"
        return self.carriers[name.lower()].pk, None

    def list_id(self, code: str, name: str) -> int:
        if not code or not name:
            raise ValueError("sender_code and list are required")
        key = (code, name)
        if key not in self.lists:
            if not self.create_lists:
                if code not in self.codes:
                    raise ValueError(f"unknown sender code {phones.masked(code[:20])!r}")
                raise ValueError(
                    f"unknown list {phones.masked(name[:40])!r} of sender code {phones.masked(code[:20])!r}"
                )
            if len(code) > 20 or len(name) > 120:
                raise ValueError("sender_code or list name too long")
            sender_code, _ = SenderCode.objects.get_or_create(code=code, defaults={"kind": SenderCode.kind_for(code)})
            self.lists[key] = SubscriberList.objects.get_or_create(sender_code=sender_code, name=name)[0].pk
        return self.lists[key]
