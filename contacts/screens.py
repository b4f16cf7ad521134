"""The reads behind the admin screens, each bounded however large the tables grow.

Pages are keyset-paginated (no OFFSET, no COUNT(*) of the whole table); totals shown on a
page are capped; the chart and dashboard read the per-list tallies the database keeps
(`contacts.tallies`), never counting a list's subscriptions per page view.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connection, models
from django.db.models import Exists, F, OuterRef

# Row comparisons, (a, b) < (x, y): Django's own lookups for composite keys, spelt out as an OR where unsupported.
from django.db.models.fields.tuple_lookups import TupleGreaterThan, TupleLessThan
from django.utils import timezone

from contacts import phones, tallies
from contacts.models import (
    CarrierErrorCode,
    Reason,
    SenderCode,
    SubscriberList,
    Subscription,
    Suspension,
    start_of_day,
)

PAGE_SIZE = 50
COUNT_CAP = 10_000  # past this a page says "10,000+" instead of counting millions

# Every chart and table shows the reasons in this order and these colours (Okabe–Ito, safe for colour blindness).
REASON_COLORS: dict[str, str] = {
    Reason.DEACTIVATED: "#D55E00",
    Reason.DISCONNECTED: "#E69F00",
    Reason.PORTING: "#56B4E9",
    Reason.PERMANENT_FAILURE: "#CC79A7",
    Reason.STOP: "#0072B2",
    Reason.OPERATOR: "#009E73",
}
TIMEFRAMES = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_RANGE = timedelta(days=3 * 366)  # a custom range longer than this is a typo, not a question
# The dates a filter may name: before any record and short of date.max, so "the day after" always exists.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
OUT_OF_RANGE = f"dates must be between {FIRST_DAY} and {LAST_DAY}"
DATE_VALIDATORS = [MinValueValidator(FIRST_DAY, OUT_OF_RANGE), MaxValueValidator(LAST_DAY, OUT_OF_RANGE)]
WEEKLY_AFTER = timedelta(days=31)  # a longer trend is drawn per week


class BadPeriod(ValueError):
    """The timeframe in the request cannot be read; str(exc) says why."""


@dataclass(frozen=True)
class Period:
    """A half-open window [since, until) of opt-out dates; `days` is set for the last-N-days choices."""

    since: datetime
    until: datetime
    days: int | None = None

    @classmethod
    def from_params(cls, params, now: datetime | None = None) -> "Period":
        """Last 7/30/90 days (`days=`) or a custom range of dates (`since=`, `until=` inclusive, UTC)."""
        now = now or timezone.now()
        since_text, until_text = params.get("since", "").strip(), params.get("until", "").strip()
        if since_text or until_text:
            try:
                first = date.fromisoformat(since_text) if since_text else None
                last = date.fromisoformat(until_text) if until_text else now.astimezone(UTC).date()
            except ValueError:
                raise BadPeriod("dates must look like 2026-03-01") from None
            if first is None:
                raise BadPeriod("a custom range needs a start date")
            if not FIRST_DAY <= first <= LAST_DAY or not FIRST_DAY <= last <= LAST_DAY:
                raise BadPeriod(OUT_OF_RANGE)
            if first > last:
                raise BadPeriod("the start date is after the end date")
            period = cls(start_of_day(first), start_of_day(last + timedelta(days=1)))
            if period.until - period.since > MAX_RANGE:
                raise BadPeriod("the range is longer than three years")
            return period
        try:
            days = int(params.get("days") or DEFAULT_DAYS)
        except ValueError:
            raise BadPeriod(f"days must be one of {', '.join(map(str, TIMEFRAMES))}") from None
        if days not in TIMEFRAMES:
            raise BadPeriod(f"days must be one of {', '.join(map(str, TIMEFRAMES))}")
        return cls(now - timedelta(days=days), now, days)

    @property
    def last_day(self) -> date:
        """The last calendar day the window touches, for showing an inclusive range."""
        return (self.until - timedelta(microseconds=1)).astimezone(UTC).date()

    def params(self) -> dict[str, str]:
        """The query parameters that name this period again."""
        if self.days:
            return {"days": str(self.days)}
        return {"since": self.since.date().isoformat(), "until": self.last_day.isoformat()}

    def label(self) -> str:
        if self.days:
            return f"last {self.days} days"
        return f"{self.since.date():%Y-%m-%d} to {self.last_day:%Y-%m-%d}"


def opt_out_reasons(list_ids: Iterable[int], period: Period, scope: dict[str, Any]) -> dict[str, Any]:
    """Each reason's share of opt-outs in the period: the chart's data and the JSON endpoint's body."""
    reasons, _ = list_breakdown(list_ids, period, scope)
    return reasons


def reasons_data(counts: dict[str, int], period: Period, scope: dict[str, Any]) -> dict[str, Any]:
    """Opt-out counts by reason as the chart's dict: every reason, in the fixed order and colours."""
    total = sum(counts.values())
    reasons = [
        {
            "reason": str(reason),
            "label": reason.label,
            "count": counts.get(reason, 0),
            "percent": round(100 * counts.get(reason, 0) / total, 1) if total else 0.0,
            "color": REASON_COLORS[reason],
        }
        for reason in Reason
    ]
    return {
        "scope": scope,
        "since": period.since.isoformat(),
        "until": period.until.isoformat(),
        "days": period.days,
        "total": total,
        "reasons": reasons,
    }


def list_breakdown(list_ids: Iterable[int], period: Period, scope: dict[str, Any]) -> tuple[dict, dict]:
    """The reasons and the trend of a dashboard from one read of the period's tallies."""
    by_reason: dict[str, int] = {}
    by_day: dict[date, int] = {}
    for (_, day, reason), n in tallies.opt_outs(list(list_ids), period.since, period.until).items():
        by_reason[reason] = by_reason.get(reason, 0) + n
        by_day[day] = by_day.get(day, 0) + n
    return reasons_data(by_reason, period, scope), trend_data(by_day, period)


def trend_data(by_day: dict[date, int], period: Period) -> dict[str, Any]:
    """Opt-outs per day (per week, Monday first, past a month) in the period, every step present."""
    weekly = period.until - period.since > WEEKLY_AFTER
    first = period.since.astimezone(UTC).date()
    if weekly:
        first -= timedelta(days=first.weekday())
    step = timedelta(weeks=1) if weekly else timedelta(days=1)
    points, start = [], first
    while start <= period.last_day:
        count = sum(by_day.get(start + timedelta(days=i), 0) for i in range(step.days))
        points.append({"start": start.isoformat(), "count": count})
        start += step
    return {"unit": "week" if weekly else "day", "points": points}


# --- Pages by number ---


@dataclass
class NumberRow:
    """One row of an SMS Contacts tab: a number and the subscriptions behind it."""

    contact_id: int
    phone: str
    subscriptions: list[Subscription] = field(default_factory=list)
    error_description: str = ""
    suspension: Suspension | None = None
    url: str = ""  # the number's history page

    @property
    def display(self) -> str:
        return phones.display(self.phone)

    @property
    def first(self) -> Subscription:
        return self.subscriptions[0]

    @property
    def lists(self) -> str:
        return ", ".join(sorted({sub.list.name for sub in self.subscriptions}))

    @property
    def latest_opt_in(self) -> datetime:
        return max(sub.opted_in_at for sub in self.subscriptions)

    @property
    def opt_in_sources(self) -> str:
        return ", ".join(sorted({sub.get_opt_in_source_display() for sub in self.subscriptions}))


@dataclass
class Page:
    rows: list[NumberRow]
    older: str = ""  # cursor of the next page, older rows
    newer: str = ""  # cursor of the previous page, newer rows
    matches: int = 0  # subscriptions matching the filters, counted up to COUNT_CAP
    capped: bool = False
    about: bool = False  # `matches` is the planner's estimate (a filter the tallies do not keep)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"[0-9]{1,19}(?:_[0-9]{1,19})?")  # ASCII digits: int() would take other scripts' too
MAX_ID = 2**63 - 1  # a bigint column's largest value
ROW_ID = re.compile(r"[0-9]{1,19}")
MAX_CURSOR_TIME = (datetime.combine(LAST_DAY, datetime.min.time(), UTC) - EPOCH) // timedelta(microseconds=1)
Key = tuple  # (time, id) or (id,): the columns a page is ordered by, newest first


def encode_cursor(key: Key) -> str:
    """A key as URL text: datetimes as microseconds since the epoch, ids as they are."""
    return "_".join(str((v - EPOCH) // timedelta(microseconds=1) if isinstance(v, datetime) else v) for v in key)


def row_id(text: str) -> int | None:
    """An id from the URL: ASCII digits within a bigint, else None (int() takes "١٢" and 30 digits alike)."""
    return int(text) if ROW_ID.fullmatch(text) and int(text) <= MAX_ID else None


def decode_cursor(text: str, timed: bool) -> Key | None:
    """A cursor from the URL, or None when it is missing, mangled or out of range (then the first page shows)."""
    if not CURSOR.fullmatch(text):
        return None
    parts = [int(part) for part in text.split("_")]
    if len(parts) != (2 if timed else 1) or not all(0 <= part <= MAX_ID for part in parts):
        return None
    if timed:
        if parts[0] > MAX_CURSOR_TIME:
            return None
        return EPOCH + timedelta(microseconds=parts[0]), parts[1]
    return (parts[0],)


def tallied_count(tab: str, list_ids: list[int], filters: dict[str, Any]) -> int | None:
    """A tab's count of subscriptions from the tallies, when its filters are ones they keep; else None.

    The tallies know each list's subscribers and suspended, and its opt-outs by day and reason, so a
    tab filtered by list, reason or dates is counted exactly without reading its rows.
    """
    if filters.get("q") or filters.get("source"):
        return None
    ids = [filters["list"]] if filters.get("list") else list_ids
    if tab == "opted_out":
        return tallies.opted_out_count(
            ids, reason=filters.get("reason") or "", first=filters.get("since"), last=filters.get("until")
        )
    totals = tallies.list_totals(ids).values()
    if tab == "suspended":
        return sum(t.suspended for t in totals)
    return sum(t.subscribers - t.suspended for t in totals)


def capped_count(qs: models.QuerySet) -> tuple[int, bool]:
    """How many rows match, counting at most COUNT_CAP + 1 of them."""
    n = qs.order_by().values("pk")[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n > COUNT_CAP


def _keyset(qs: models.QuerySet, fields: tuple[str, ...], cursor: str, newer: bool) -> tuple[list[Key], str, str]:
    """One page of distinct keys newest first, and the cursors of the pages either side of it."""
    after = decode_cursor(cursor, timed=len(fields) == 2) if cursor else None
    op = "gt" if newer else "lt"
    if after and len(fields) == 2:
        (time_field, id_field), (at, pk) = fields, after
        # A row comparison, (time, id) < (at, pk): PostgreSQL starts the index range scan at the cursor itself,
        # inside a run of rows that share one time (a daily report's opt-outs all do), instead of re-reading the
        # run from its start on every page. Where row values are spelt out as an OR (SQLite), the plain bound
        # on the time lets the scan start near the cursor.
        qs = qs.filter((TupleGreaterThan if newer else TupleLessThan)((F(time_field), F(id_field)), (at, pk)))
        if not connection.features.supports_tuple_lookups:
            qs = qs.filter(**{f"{time_field}__{op}e": at})
    elif after:
        qs = qs.filter(**{f"{fields[0]}__{op}": after[0]})
    ascending = bool(after) and newer
    order = fields if ascending else tuple(f"-{name}" for name in fields)
    keys = list(qs.order_by(*order).values_list(*fields).distinct()[: PAGE_SIZE + 1])
    more = len(keys) > PAGE_SIZE
    keys = keys[:PAGE_SIZE]
    if ascending:
        keys.reverse()
    if not keys:
        return [], "", ""
    has_older = True if ascending else more
    has_newer = bool(after) and (more if ascending else True)
    return keys, encode_cursor(keys[-1]) if has_older else "", encode_cursor(keys[0]) if has_newer else ""


def opted_out_page(qs: models.QuerySet, cursor: str = "", newer: bool = False, count: int | None = None) -> Page:
    """A page of opted-out numbers newest first; one row per number and moment it left (its lists together)."""
    if count == 0:  # the tallies know there is none: no walk through an index to find that out
        return Page([])
    keys, older_cursor, newer_cursor = _keyset(qs, ("opted_out_at", "contact_id"), cursor, newer)
    wanted = set(keys)
    subs = (
        qs.filter(contact_id__in={pk for _, pk in keys}, opted_out_at__in={at for at, _ in keys})
        .select_related("contact", "list", "opt_out_event")
        .order_by("list__name")
    )
    rows: dict[tuple[datetime, int], NumberRow] = {}
    for sub in subs:
        key = (sub.opted_out_at, sub.contact_id)
        if key in wanted:
            rows.setdefault(key, NumberRow(sub.contact_id, sub.contact.phone)).subscriptions.append(sub)
    codes = {sub.opt_out_event.error_code for row in rows.values() for sub in row.subscriptions if sub.opt_out_event}
    descriptions = dict(
        CarrierErrorCode.objects.filter(code__in=codes - {None}).values_list("code", "description") if codes else []
    )
    for row in rows.values():
        event = row.first.opt_out_event
        row.error_description = descriptions.get(event.error_code, "") if event else ""
    matches, capped = (count, False) if count is not None else capped_count(qs)
    return Page([rows[key] for key in keys if key in rows], older_cursor, newer_cursor, matches, capped)


def subscribed_page(qs: models.QuerySet, cursor: str = "", newer: bool = False, count: int | None = None) -> Page:
    """A page of sendable numbers, newest contacts first, each with the lists it is on."""
    if count == 0:  # the tallies know there is none: no walk through an index to find that out
        return Page([])
    keys, older_cursor, newer_cursor = _keyset(qs, ("contact_id",), cursor, newer)
    ids = [pk for (pk,) in keys]
    rows = _rows_by_contact(qs.filter(contact_id__in=ids).select_related("contact__carrier", "list"), ids)
    matches, capped = (count, False) if count is not None else capped_count(qs)
    return Page(rows, older_cursor, newer_cursor, matches, capped)


def suspended_page(subs: models.QuerySet, cursor: str = "", newer: bool = False, count: int | None = None) -> Page:
    """A page of numbers suspended while opted in to `subs`, latest first, with the lists they keep (R5)."""
    if count == 0:  # the tallies know there is none: no walk through an index to find that out
        return Page([])
    # From the few active suspensions to their subscriptions, never a scan of every subscription.
    suspensions = Suspension.objects.active().filter(Exists(subs.filter(contact_id=OuterRef("contact_id"))))
    keys, older_cursor, newer_cursor = _keyset(suspensions, ("started_at", "id"), cursor, newer)
    found = suspensions.filter(id__in=[pk for _, pk in keys]).select_related("contact", "carrier")
    by_id = {s.id: s for s in found}
    ordered = [by_id[pk] for _, pk in keys if pk in by_id]
    contact_ids = [s.contact_id for s in ordered]
    rows = _rows_by_contact(subs.filter(contact_id__in=contact_ids).select_related("contact", "list"), contact_ids)
    for row, suspension in zip(rows, ordered, strict=False):
        row.suspension = suspension
    matches, capped = (count, False) if count is not None else capped_count(suspensions)
    return Page(rows, older_cursor, newer_cursor, matches, capped)


def _rows_by_contact(subs: models.QuerySet, contact_ids: list[int]) -> list[NumberRow]:
    rows: dict[int, NumberRow] = {pk: NumberRow(pk, "") for pk in contact_ids}
    for sub in subs.order_by("list__name"):
        row = rows[sub.contact_id]
        row.phone = sub.contact.phone
        row.subscriptions.append(sub)
    return [row for row in rows.values() if row.subscriptions]


def sendable_subscriptions(list_ids: Iterable[int]) -> models.QuerySet:
    return Subscription.objects.sendable().filter(list_id__in=list(list_ids))


def sender_code_lists(code: SenderCode) -> list[SubscriberList]:
    return list(code.lists.order_by("name"))
