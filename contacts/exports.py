"""CSV exports at database speed: the file as bytes, written by PostgreSQL itself and streamed as it comes.

On PostgreSQL an export is one `COPY (SELECT …) TO STDOUT WITH (FORMAT csv)` read through psycopg's copy API:
rows leave the server as the plan yields them, CSV text already, and Python only gathers them into chunks
(no object per cell, no csv module). Django's `.iterator()` is not
used there on purpose: outside a transaction its server-side cursor is `DECLARE … WITH HOLD`, which PostgreSQL
materializes whole before the first fetch (66–72 s before the first row at 2.5M rows, issue 20). Each cell is
turned into the text Python would write (timestamps as `isoformat()`, empty as nothing) and formula-escaped in
the query by `escape_cell_sql`, the same rule as `escape_cell`, so both paths write the same bytes (R12).
SQLite reads the rows in chunks and writes them with the csv module. Memory stays flat either way.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connections, models

from contacts import tallies
from contacts.csvio import csv_row, escape_cell_sql
from contacts.models import SenderCode, SubscriberList, Subscription, start_of_day

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024  # what one write to the client (or the file) carries
SQLITE_ROWS = 2000  # rows fetched at a time on SQLite


@dataclass(frozen=True)
class Column:
    header: str
    path: str  # an ORM path (or an annotation's name) of the export's queryset


@dataclass
class Export:
    """An export: its columns over a queryset, a name for the file, and who may have it."""

    name: str
    columns: list[Column]
    queryset: models.QuerySet
    permission: str = "contacts.export_numbers"  # raw numbers need it (R12)
    title: tuple[str, ...] = ()  # the download name's further parts (a sender code…)
    at_most: int | None = None  # rows there can be at most, when something cheaper than a count knows (tallies)
    exact: bool = False  # at_most is the number of rows itself
    with_header: bool = True

    @property
    def header(self) -> list[str]:
        return [column.header for column in self.columns]

    def values(self) -> models.QuerySet:
        return self.queryset.values_list(*(column.path for column in self.columns))

    def stream(self, on_done: Callable[[int], None] | None = None, *, copy: bool | None = None) -> "CsvStream":
        """The CSV's bytes; `copy` picks the path (default: COPY on PostgreSQL, the csv module elsewhere)."""
        return CsvStream(self, on_done, copy=copy)


def cell(value) -> str:
    """A value as its CSV text before escaping: what the SQL path writes too (see _as_text)."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class CsvStream:
    """The export's CSV as chunks of bytes: the header, then every row. `rows` holds the count once read whole."""

    def __init__(self, export: Export, on_done: Callable[[int], None] | None = None, *, copy: bool | None = None):
        self.export, self.on_done = export, on_done
        self.connection = connections[export.queryset.db]
        self.copy = self.connection.vendor == "postgresql" if copy is None else copy
        self.rows: int | None = None

    def __iter__(self) -> Iterator[bytes]:
        if self.export.with_header:
            yield csv_row(self.export.header).encode()
        rows = yield from (self._copy(self.connection) if self.copy else self._chunked())
        self.rows = rows
        log.info("export written name=%s rows=%d", self.export.name, rows)
        if self.on_done is not None:
            self.on_done(rows)

    def _copy(self, connection) -> Iterator[bytes]:
        statement = copy_statement(self.export, connection)
        buffer = bytearray()
        with connection.cursor() as cursor:
            # JIT off: compiling a plan this size took 1.6 s before the first row, more than it saves. ISO dates:
            # the cells' text depends on it (see _as_text); Django has set the session's time zone to UTC.
            cursor.execute("SELECT set_config('jit', 'off', false), set_config('DateStyle', 'ISO, MDY', false)")
            try:
                with cursor.copy(statement) as copy:
                    for data in copy:
                        buffer += data
                        if len(buffer) >= CHUNK_BYTES:
                            yield bytes(buffer)
                            buffer.clear()
                rows = cursor.rowcount
            finally:  # also when the download stops half way: the connection may serve other requests
                cursor.execute("RESET jit")
        if buffer:
            yield bytes(buffer)
        return rows

    def _chunked(self) -> Iterator[bytes]:
        lines, size, rows = [], 0, 0
        for values in self.export.values().iterator(chunk_size=SQLITE_ROWS):
            line = csv_row(map(cell, values))
            lines.append(line)
            size += len(line)
            rows += 1
            if size >= CHUNK_BYTES:
                yield "".join(lines).encode()
                lines, size = [], 0
        if lines:
            yield "".join(lines).encode()
        return rows


def copy_statement(export: Export, connection) -> str:
    """`COPY (SELECT <escaped text of each column> FROM (<the queryset's SQL>) …) TO STDOUT WITH (FORMAT csv)`."""
    values = export.values()
    query = values.query
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    # The inner SELECT lists its columns as values_list does (extra, fields, annotations) whatever order the
    # export names them in; the outer SELECT picks them in the export's order.
    names = [*query.extra_select, *query.values_select, *query.annotation_select]
    fields = [expression.output_field for expression, _, _ in compiler.select]
    assert len(names) == len(fields), (names, fields)
    inner = connection.ops.compose_sql(sql, params)
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    cells = ", ".join(_as_text(f"q.c{names.index(c.path)}", fields[names.index(c.path)]) for c in export.columns)
    return f"COPY (SELECT {cells} FROM ({inner}) AS q({aliases})) TO STDOUT WITH (FORMAT csv)"


def _as_text(column: str, field: models.Field) -> str:
    """The SQL for a column's cell: the text `cell()` gives in Python, escaped as `escape_cell` escapes it."""
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        # isoformat() of an aware UTC datetime: microseconds only when there are any, then +00:00. Whole seconds
        # (nearly every stamp) take the ISO text output, "2026-11-20 10:00:00+00", three times faster than
        # to_char; PostgreSQL trims a fraction's zeros, so a fraction takes to_char.
        whole = f"replace({column}::text, ' ', 'T') || ':00'"
        fraction = f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00'"""
        return f"CASE WHEN {column} = date_trunc('second', {column}) THEN {whole} ELSE {fraction} END"
    if kind == "DateField":
        return f"to_char({column}, 'YYYY-MM-DD')"
    if kind == "BooleanField":
        return f"CASE WHEN {column} THEN 'True' WHEN NOT {column} THEN 'False' END"
    if kind in TEXT_KINDS:
        # Escaped, then an empty text written as nothing, as the csv module writes "" (COPY would quote it).
        return f"NULLIF({escape_cell_sql(f'{column}::text')}, '')"
    raise TypeError(f"no CSV text for a {kind} column in COPY exports")  # add it here, and to the bytes test


TEXT_KINDS = {"CharField", "TextField", "EmailField", "SlugField", "URLField", "IntegerField", "BigIntegerField",
              "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField",
              "AutoField", "BigAutoField", "SmallAutoField"}  # fmt: skip


# --- The opted-out export: the Opted-Out tab's download and `export_opted_out` alike ---

OPTED_OUT_COLUMNS = [
    Column("phone", "contact__phone"),
    Column("sender_code", "list__sender_code__code"),
    Column("list", "list__name"),
    Column("reason", "opt_out_reason"),
    Column("source", "opt_out_event__source"),
    Column("error_code", "opt_out_event__error_code"),
    Column("occurred_at", "opted_out_at"),
]


@dataclass
class OptedOutFilter:
    """What an opted-out export covers: a sender code's lists (or every code), a period [since, until) and the
    Opted-Out tab's filters."""

    sender_code: SenderCode | None = None
    list_ids: list[int] | None = None  # within the sender code; None: all its lists
    since: datetime | None = None
    until: datetime | None = None
    reason: str = ""
    source: str = ""
    phone: str = ""
    newest_first: bool = True  # the tab's order; the command keeps its oldest-first order


def opted_out_export(chosen: OptedOutFilter) -> Export:
    """One row per opted-out subscription, newest first (the tab's order), with the tallies' bound on its size."""
    subs = Subscription.objects.opted_out_between(chosen.since, chosen.until)
    list_ids = chosen.list_ids
    if chosen.sender_code is not None and list_ids is None:
        list_ids = list(chosen.sender_code.lists.values_list("id", flat=True))
    if list_ids is not None:
        subs = subs.filter(list_id__in=list_ids)
    if chosen.reason:
        subs = subs.filter(opt_out_reason=chosen.reason)
    if chosen.source:
        subs = subs.filter(opt_out_event__source=chosen.source)
    if chosen.phone:
        subs = subs.filter(contact__phone=chosen.phone)
    title = (chosen.sender_code.code,) if chosen.sender_code else ()
    order = ("-opted_out_at", "-id") if chosen.newest_first else ("opted_out_at", "id")
    export = Export("opted-out", OPTED_OUT_COLUMNS, subs.order_by(*order), title=title)
    export.at_most = _tallied_bound(chosen, list_ids)
    # The tallies count by list, reason and UTC day: exactly the rows, unless a filter they do not hold (source,
    # number) or a period boundary inside a day takes some away.
    whole_days = all(moment is None or moment == start_of_day(moment.date()) for moment in (chosen.since, chosen.until))
    export.exact = whole_days and not chosen.source and not chosen.phone
    return export


def _tallied_bound(chosen: OptedOutFilter, list_ids: list[int] | None) -> int | None:
    """The tallies' count of opted-out subscriptions by list, reason and whole UTC days around the period: never
    fewer than the export's rows (the source and number filters only take rows away)."""
    if list_ids is None:
        list_ids = list(SubscriberList.objects.values_list("id", flat=True))
    first = chosen.since.date() if chosen.since else None
    last = chosen.until.date() if chosen.until else None
    if chosen.until is not None and chosen.until == start_of_day(chosen.until.date()) and last is not None:
        last = date.fromordinal(last.toordinal() - 1)  # `until` at midnight: that day is not in the period
    return tallies.opted_out_count(list_ids, reason=chosen.reason, first=first, last=last)


def write_out(stdout, chunks) -> None:
    """A command's stdout gets the bytes as they are (a terminal or pipe), or their text (a test's StringIO)."""
    binary = getattr(stdout, "buffer", None)
    if binary is not None:
        stdout.flush()
        for chunk in chunks:
            binary.write(chunk)
        binary.flush()
        return
    for chunk in chunks:
        stdout.write(chunk.decode(), ending="")
