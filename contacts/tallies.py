"""Reading the per-list tallies the database triggers keep (migration 0007), folding them, checking them.

A read sums a list's tally rows: a handful of rows per list, whatever the list's size. Opt-outs are
tallied per day (UTC); a period that starts or ends inside a day counts those partial days from the
subscriptions' (list, status, opted_out_at, reason) index, at most two days of rows.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncDate

from contacts.models import ListTally, OptOutTally, Subscription, Suspension, start_of_day

TRIGGERED_TABLES = ("contacts_subscription", "contacts_suspension")
EARLIEST, LATEST = start_of_day(date(1970, 1, 1)), start_of_day(date(9999, 1, 1))  # "any time" as bounds


@dataclass(frozen=True)
class Totals:
    subscribers: int = 0
    suspended: int = 0


def list_totals(list_ids: list[int]) -> dict[int, Totals]:
    """Subscribers (opted in, suspended or not) and suspended subscriptions of each list."""
    rows = (
        ListTally.objects.filter(list_id__in=list_ids)
        .values_list("list_id")
        .annotate(subscribers=Sum("subscribers"), suspended=Sum("suspended"))
        .order_by()
    )
    return {list_id: Totals(subscribers, suspended) for list_id, subscribers, suspended in rows}


Key = tuple[int, date, str]  # (list id, UTC day, reason)


def opt_outs(list_ids: list[int], since: datetime, until: datetime) -> dict[Key, int]:
    """Opted-out subscriptions of the lists whose opt-out falls in [since, until), by list, UTC day and reason."""
    first_whole = since.date() if since == start_of_day(since.date()) else since.date() + timedelta(days=1)
    end_whole = until.date()  # whole days run up to the start of `until`'s day
    counts: dict[Key, int] = defaultdict(int)
    if first_whole >= end_whole:  # no whole day inside: count the rows themselves (less than two days)
        _count_rows(counts, list_ids, since, until)
        return {key: n for key, n in counts.items() if n}
    if since < start_of_day(first_whole):
        _count_rows(counts, list_ids, since, start_of_day(first_whole))
    tallied = (
        OptOutTally.objects.filter(list_id__in=list_ids, day__gte=first_whole, day__lt=end_whole)
        .values_list("list_id", "day", "reason")
        .annotate(n=Sum("count"))
        .order_by()
    )
    for list_id, day, reason, n in tallied:
        counts[(list_id, day, reason)] += n
    if start_of_day(end_whole) < until:
        _count_rows(counts, list_ids, start_of_day(end_whole), until)
    return {key: n for key, n in counts.items() if n}


def opt_outs_by_list(list_ids: list[int], since: datetime, until: datetime) -> dict[int, int]:
    """How many of each list's subscriptions opted out in [since, until)."""
    by_list: dict[int, int] = defaultdict(int)
    for (list_id, _, _), n in opt_outs(list_ids, since, until).items():
        by_list[list_id] += n
    return dict(by_list)


def opted_out_count(
    list_ids: list[int], *, reason: str = "", first: date | None = None, last: date | None = None
) -> int:
    """Opted-out subscriptions of the lists, of one reason when given, whose opt-out day is in [first, last]."""
    rows = OptOutTally.objects.filter(list_id__in=list_ids)
    if reason:
        rows = rows.filter(reason=reason)
    if first:
        rows = rows.filter(day__gte=first)
    if last:
        rows = rows.filter(day__lte=last)
    return rows.aggregate(n=Sum("count"))["n"] or 0


def _count_rows(counts: dict[Key, int], list_ids: list[int], since: datetime, until: datetime) -> None:
    rows = (
        Subscription.objects.filter(
            list_id__in=list_ids, status=Subscription.Status.OPTED_OUT, opted_out_at__gte=since, opted_out_at__lt=until
        )
        .annotate(day=TruncDate("opted_out_at"))
        .values_list("list_id", "day", "opt_out_reason")
        .annotate(n=Count("*"))
        .order_by()
    )
    for list_id, day, reason, n in rows:
        counts[(list_id, _as_date(day), reason)] += n


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


# PostgreSQL folds a table's rows in one statement: rows appended by writers committing meanwhile are
# neither deleted nor summed, so nothing is lost or counted twice.
PG_COMPACT = {
    "contacts_listtally": """
        WITH folded AS (DELETE FROM contacts_listtally RETURNING list_id, subscribers, suspended)
        INSERT INTO contacts_listtally (list_id, subscribers, suspended)
        SELECT list_id, sum(subscribers), sum(suspended) FROM folded GROUP BY list_id
        HAVING sum(subscribers) <> 0 OR sum(suspended) <> 0""",
    "contacts_optouttally": """
        WITH folded AS (DELETE FROM contacts_optouttally RETURNING list_id, day, reason, count)
        INSERT INTO contacts_optouttally (list_id, day, reason, count)
        SELECT list_id, day, reason, sum(count) FROM folded GROUP BY list_id, day, reason HAVING sum(count) <> 0""",
}


@transaction.atomic
def compact() -> int:
    """Fold each key's tally rows into one (PostgreSQL); returns how many rows are left. Beat runs it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for sql in PG_COMPACT.values():
                cursor.execute(sql)
    else:  # SQLite's triggers already keep one row per key; drop the ones that came back to zero
        ListTally.objects.filter(subscribers=0, suspended=0).delete()
        OptOutTally.objects.filter(count=0).delete()
    return ListTally.objects.count() + OptOutTally.objects.count()


RECOUNT = """
INSERT INTO contacts_listtally (list_id, subscribers, suspended)
SELECT s.list_id, count(*), sum(CASE WHEN EXISTS (SELECT 1 FROM contacts_suspension p
                                                  WHERE p.contact_id = s.contact_id AND p.ended_at IS NULL)
                                THEN 1 ELSE 0 END)
FROM contacts_subscription s WHERE s.status = 'opted_in' GROUP BY s.list_id;
INSERT INTO contacts_optouttally (list_id, day, reason, count)
SELECT s.list_id, {day}, s.opt_out_reason, count(*)
FROM contacts_subscription s WHERE s.status = 'opted_out' AND s.opted_out_at IS NOT NULL GROUP BY 1, 2, 3
"""


@transaction.atomic
def rebuild() -> None:
    """Count the tallies again from the rows: after work that bypassed the triggers.

    SQLite's flush deletes table by table in no set order, so the delete triggers can write into the
    tallies after they were emptied; `manage.py flush` (through post_migrate) and tests that start from a
    flushed database recount. On PostgreSQL a flush truncates every table at once and fires no trigger.
    """
    day = "(s.opted_out_at AT TIME ZONE 'UTC')::date" if connection.vendor == "postgresql" else "date(s.opted_out_at)"
    ListTally.objects.all().delete()
    OptOutTally.objects.all().delete()
    with connection.cursor() as cursor:
        for sql in RECOUNT.format(day=day).split(";"):
            cursor.execute(sql)


def rebuild_after_flush(sender, using: str = "default", **kwargs) -> None:
    """post_migrate on SQLite: a flush may have left the tallies out of step (see rebuild)."""
    from django.db import connections

    if connections[using].vendor == "sqlite" and sender.name == "contacts":
        rebuild()


def drift() -> dict[str, dict]:
    """Where the tallies differ from counting the subscriptions themselves; empty when they agree."""
    active = Suspension.objects.active().filter(contact_id=OuterRef("contact_id"))
    counted_totals = {
        list_id: Totals(n, suspended)
        for list_id, n, suspended in Subscription.objects.opted_in()
        .values_list("list_id")
        .annotate(n=Count("*"), suspended=Count("id", filter=Q(Exists(active))))
        .order_by()
    }
    every_list = list(ListTally.objects.values_list("list_id", flat=True).distinct())
    tallied_totals = {k: v for k, v in list_totals(every_list).items() if v != Totals()}
    counted_days = {
        (list_id, _as_date(day), reason): n
        for list_id, day, reason, n in Subscription.objects.opted_out()
        .exclude(opted_out_at=None)
        .annotate(day=TruncDate("opted_out_at"))
        .values_list("list_id", "day", "opt_out_reason")
        .annotate(n=Count("*"))
        .order_by()
    }
    tallied_days = {
        key[:3]: key[3]
        for key in OptOutTally.objects.values_list("list_id", "day", "reason")
        .annotate(n=Sum("count"))
        .order_by()
        .exclude(n=0)
    }
    found = {}
    if counted_totals != tallied_totals:
        found["lists"] = {"counted": counted_totals, "tallied": tallied_totals}
    if counted_days != tallied_days:
        found["opt_outs"] = {"counted": counted_days, "tallied": tallied_days}
    return found


def installed_triggers() -> set[str]:
    """Names of the tally triggers in the database (a SQLite table rebuild by a later migration drops them)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY(%s)",
                [list(TRIGGERED_TABLES)],
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (%s, %s)", TRIGGERED_TABLES
            )
        return {name for (name,) in cursor.fetchall() if name.endswith(("_insert", "_update", "_delete"))}
