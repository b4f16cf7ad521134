"""Counting and paging every admin changelist the way tables of tens of millions of rows allow (issue 20).

Django's changelist counts the filtered rows with COUNT(*) on every page view for its paginator (and the
whole table again unless `show_full_result_count` is off): seconds on a table of millions. Here a count is

- the tallies' exact figure, when the model admin keeps one for the filters asked (`tallied_count`);
- the planner's estimate (`pg_class.reltuples`) of a whole table past the cap, shown as "about";
- counted up to COUNT_CAP + 1 rows otherwise, shown as "10,000+" past the cap;
- exact when staff ask for it (`?_count=exact`), which can take seconds and is never done unasked.

Pages stop at COUNT_CAP rows, so OFFSET never reads further than that; filters narrow a longer list. The date
drill-down offers the years, months or days between the first and the last row (the ends of an index) instead
of a SELECT DISTINCT over every row.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, models
from django.utils import timezone

COUNT_CAP = 10_000
FEW = COUNT_CAP  # a filtered list this short is read by its rows' ids (see BoundedChangeList.get_results)
EXACT_VAR = "_count"  # ?_count=exact: count every matching row, on demand


@dataclass(frozen=True)
class Count:
    n: int
    kind: str = "exact"  # "exact", "about" (an estimate) or "at least" (counting stopped at the cap)

    def label(self, singular: str, plural: str) -> str:
        noun = singular if self.n == 1 and self.kind == "exact" else plural
        if self.kind == "about":
            return f"about {self.n:,} {noun}"
        if self.kind == "at least":
            return f"{self.n:,}+ {noun}"
        return f"{self.n:,} {noun}"


def estimated_rows(queryset: models.QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows of the queryset's table (kept by ANALYZE and autovacuum), if it has one."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table]
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None  # -1: never analyzed


def planned_rows(queryset: models.QuerySet) -> int | None:
    """PostgreSQL's planner estimate of the rows a filtered queryset returns (EXPLAIN, nothing read), if any."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def count_rows(
    queryset: models.QuerySet, *, whole_table: bool, exact: bool = False, tallied: int | None = None
) -> Count:
    """How many rows the queryset holds, as cheaply as the question allows (see the module's docstring)."""
    if exact:
        return Count(queryset.count())
    if tallied is not None:
        return Count(tallied)
    if whole_table:
        estimate = estimated_rows(queryset)
        if estimate is not None and estimate > COUNT_CAP:
            return Count(estimate, "about")
    n = queryset.order_by().values("pk")[: COUNT_CAP + 1].count()
    return Count(COUNT_CAP, "at least") if n > COUNT_CAP else Count(n)


def is_whole_table(queryset: models.QuerySet) -> bool:
    return not queryset.query.where


class SpanDates:
    """A queryset whose `dates()`/`datetimes()` list every period between its first and last row.

    The admin's date drill-down asks for the distinct years (then months, days) of the filtered rows: a scan of
    every row. Two ends of an index answer instead; a period with no row may be offered, and shows an empty list.
    """

    def aggregate(self, *args, **kwargs):
        # The drill-down first asks for Min and Max of the field in one aggregate; asked as the first row each
        # way, they read the ends of the field's index whatever else filters the rows (as one aggregate, the
        # planner may read every row a filter's own index finds instead).
        first, last = kwargs.get("first"), kwargs.get("last")
        if (
            args
            or set(kwargs) != {"first", "last"}
            or not (isinstance(first, models.Min) and isinstance(last, models.Max))
        ):
            return super().aggregate(*args, **kwargs)
        name = first.source_expressions[0].name
        ends = self.order_by().values_list(name, flat=True).exclude(**{f"{name}__isnull": True})
        return {"first": ends.order_by(name).first(), "last": ends.order_by(f"-{name}").first()}

    def dates(self, field_name, kind, order="ASC"):
        return self._span(field_name, kind, aware=False)

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        return self._span(field_name, kind, aware=True)

    def _span(self, field_name: str, kind: str, *, aware: bool) -> list:
        ends = self.aggregate(first=models.Min(field_name), last=models.Max(field_name))
        first, last = ends["first"], ends["last"]
        if first is None or last is None:
            return []
        if aware:
            first, last = timezone.localtime(first), timezone.localtime(last)
        first, last = _truncate(first, kind), _truncate(last, kind)
        periods = []
        while first <= last:
            periods.append(first)
            first = _next(first, kind)
        return periods


def _truncate(value, kind: str):
    value = value.replace(month=1, day=1) if kind == "year" else value.replace(day=1) if kind == "month" else value
    if isinstance(value, datetime):
        value = value.replace(hour=0, minute=0, second=0, microsecond=0)
    return value


def _next(value, kind: str):
    if kind == "year":
        return value.replace(year=value.year + 1)
    if kind == "month":
        return value.replace(year=value.year + value.month // 12, month=value.month % 12 + 1)
    return value + timedelta(days=1)


_SPANNING: dict[type, type] = {}


def spanning_dates(queryset: models.QuerySet) -> models.QuerySet:
    """The same queryset, whose date listings read the two ends only (SpanDates)."""
    cls = type(queryset)
    if not issubclass(cls, SpanDates):
        if cls not in _SPANNING:
            _SPANNING[cls] = type(f"Spanning{cls.__name__}", (SpanDates, cls), {})
        queryset.__class__ = _SPANNING[cls]
    return queryset
