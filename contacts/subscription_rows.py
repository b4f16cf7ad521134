"""The subscriptions CSV (phone,sender_code,list,opted_in_at[,email,carrier]) read into opt-ins, each bad row named.

Shared by `import_subscriptions` and the operator imports: one reading of the file, whatever applies it.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from django.utils import timezone

from contacts import phones
from contacts.consent import OptIn
from contacts.csvio import RowErrors, parse_timestamp, read_rows
from contacts.models import Carrier, SenderCode, SubscriberList

REQUIRED = ["phone", "sender_code", "list", "opted_in_at"]
OPTIONAL = ["email", "carrier"]


class SubscriptionRows:
    """Turn CSV rows into opt-ins, naming each bad row (R8)."""

    def __init__(self, errors: RowErrors, *, create_lists: bool):
        self.errors = errors
        self.create_lists = create_lists
        self.lists = {
            (lst.sender_code.code, lst.name): lst.pk for lst in SubscriberList.objects.select_related("sender_code")
        }
        self.codes = set(SenderCode.objects.values_list("code", flat=True))
        self.carriers = Carrier.by_name()
        self.numbers = phones.FileNumbers()
        self.now = timezone.now()
        self.count = 0

    def opt_ins(self, stream: BinaryIO) -> Iterator[OptIn]:
        rows = read_rows(stream, required=REQUIRED, optional=OPTIONAL, kind="subscriptions", errors=self.errors)
        for line, row in rows:
            self.count += 1
            try:
                yield self.opt_in(line, row)
            except ValueError as exc:
                self.errors.add(line, str(exc))

    def opt_in(self, line: int, row: dict[str, str]) -> OptIn:
        number = self.numbers(row["phone"])
        list_id = self.list_id(row["sender_code"], row["list"])
        opted_in_at = self.timestamp(row["opted_in_at"])
        carrier = row.get("carrier", "")
        carrier_id = None
        if carrier:
            if carrier.lower() not in self.carriers:
                raise ValueError(f"unknown carrier {phones.masked(carrier[:40])!r}")
            carrier_id = self.carriers[carrier.lower()].pk
        email = row.get("email", "")
        if email and ("@" not in email or len(email) > 254):
            raise ValueError("invalid email")
        return OptIn(number, list_id, opted_in_at, email, carrier_id, line)

    def timestamp(self, text: str) -> datetime:
        try:
            value = parse_timestamp(text)
        except ValueError:
            raise ValueError(
                f"opted_in_at is not an ISO-8601 timestamp: {phones.masked(text[:40], moment=True)!r}"
            ) from None
        if value > self.now:
            raise ValueError("opted_in_at is in the future")
        return value

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
