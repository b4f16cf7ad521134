"""R14, the mass opt-out guard: a batch that would opt out a list wholesale is held, not applied.

A bad file (a wrong column taken for the phone, another program's numbers) must never empty a
list. The set-based apply calls `check` once it knows which subscriptions a batch would opt out
and before it writes anything; `Held` rolls the batch's transaction back and carries, per list,
what would have happened, for the report or import to record and an Admin to judge.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection

from contacts import tallies
from contacts.models import SubscriberList

# An Admin released the batch: it applies exactly as it would have, guard or not (R14).
_released: ContextVar[bool] = ContextVar("opt_out_guard_released", default=False)


@dataclass(frozen=True)
class ListHit:
    """What a held batch would have done to one list."""

    list_id: int
    sender_code: str
    list: str
    would_opt_out: int
    subscribers: int

    @property
    def percent(self) -> float:
        return round(100 * self.would_opt_out / self.subscribers, 1) if self.subscribers else 100.0

    def as_dict(self) -> dict:
        return {**asdict(self), "percent": self.percent}

    def line(self) -> str:
        return f"{self.sender_code}/{self.list} {self.would_opt_out} of {self.subscribers} ({self.percent}%)"


class Held(Exception):
    """The batch would opt out more of a list than the guard allows; nothing was applied."""

    def __init__(self, hits: list[ListHit]):
        self.hits = hits
        super().__init__("held by the mass opt-out guard (R14): " + "; ".join(hit.line() for hit in hits))

    def lists(self) -> list[dict]:
        """The JSON a held record keeps: one object per list it would hit."""
        return [hit.as_dict() for hit in self.hits]


def held_fields(lists: list[dict]) -> str:
    """A held record's lists as the commands' key=value fields (`lists` as Held.lists() made them)."""
    return f"lists={len(lists)} " + " ".join(
        f"list={hit['sender_code']}/{hit['list']} would_opt_out={hit['would_opt_out']} "
        f"subscribers={hit['subscribers']} percent={hit['percent']}"
        for hit in lists
    )


def held_lines(lists: list[dict]) -> list[str]:
    """The same as sentences, one a list, for alerts."""
    return [
        f"  {hit['sender_code']}/{hit['list']}: would opt out {hit['would_opt_out']} of {hit['subscribers']} "
        f"subscribers ({hit['percent']}%)"
        for hit in lists
    ]


def limits() -> tuple[float, int]:
    """(percent of a list's subscribers, minimum subscriptions) both of which a batch must exceed to be held."""
    return settings.OPT_OUT_GUARD_PERCENT, settings.OPT_OUT_GUARD_MIN


def is_on() -> bool:
    return limits()[0] > 0 and not _released.get()


@contextmanager
def released() -> Iterator[None]:
    """Apply within this block as an Admin decided: the guard lets everything through."""
    token = _released.set(True)
    try:
        yield
    finally:
        _released.reset(token)


def check(per_list_sql: str) -> None:
    """Raise Held when the batch's opt-outs per list (`per_list_sql` yields list id, count) pass both limits."""
    if not is_on():
        return
    percent, minimum = limits()
    with connection.cursor() as cursor:
        cursor.execute(per_list_sql)
        counts = {list_id: n for list_id, n in cursor.fetchall() if n > minimum}
    if not counts:
        return
    totals = tallies.list_totals(list(counts))
    # The tallies count subscribers as they are before this batch writes anything.
    over = {
        list_id: n
        for list_id, n in counts.items()
        if 100 * n > percent * totals.get(list_id, tallies.Totals()).subscribers
    }
    if not over:
        return
    lists = SubscriberList.objects.select_related("sender_code").in_bulk(list(over))
    hits = [
        ListHit(
            list_id,
            lists[list_id].sender_code.code,
            lists[list_id].name,
            n,
            totals.get(list_id, tallies.Totals()).subscribers,
        )  # fmt: skip
        for list_id, n in sorted(over.items(), key=lambda item: -item[1])
    ]
    raise Held(hits)
