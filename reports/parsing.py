"""Deactivation report files: bytes in, (line, E.164 number, date) rows and named row errors out (R8, R10).

AWS does not publish the report's columns, and operators upload other providers' files, so the layout is read
from the file itself: a header naming the columns, or else the columns whose content looks like phone numbers
and dates. Everything streams: a file of any size is read in chunks and never held whole (R10).
"""

import csv
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from contacts.phone_columns import UsNumberColumn
from contacts.phones import masked
from reports.columns import Lines, line_blocks
from reports.columns import field as column_field
from reports.reading import SAMPLE_CHARS, BadLine, NotAReport
from reports.reading import _text_chunks as text_chunks

logger = logging.getLogger(__name__)

MAX_SAMPLES = 100
SNIFF_ROWS = 20
DATE_CACHE_SIZE = 4096
ROWS_AT_A_TIME = 1000  # parse_report's rows come out of a batch's columns this many at a time


PHONE_COLUMNS = (
    "phone",
    "phone_number",
    "phonenumber",
    "number",
    "msisdn",
    "mdn",
    "e164",
    "e_164",
    "destination",
    "destination_number",
    "destination_phone_number",
    "mobile",
    "mobile_number",
    "cell",
    "telephone",
    "tn",
    "subscriber",
    "subscriber_number",
    "ctn",
)
DATE_COLUMNS = (
    "date",
    "deactivation_date",
    "deact_date",
    "event_date",
    "deactivated_at",
    "deactivated_on",
    "deactivation_time",
    "disconnect_date",
    "disconnected_at",
    "disconnection_date",
    "effective_date",
    "occurred_at",
    "event_time",
    "timestamp",
)
OTHER_COLUMNS = frozenset(
    {
        "country",
        "country_code",
        "iso2",
        "region",
        "event",
        "event_type",
        "type",
        "status",
        "reason",
        "carrier",
    }
    | {"carrier_name", "operator", "id", "record_id"}
)
KNOWN_COLUMNS = frozenset(PHONE_COLUMNS) | frozenset(DATE_COLUMNS) | OTHER_COLUMNS

_BLANK = " \t,;|\"'"
_PHONE_LIKE = re.compile(r"\+?[0-9(][0-9 ().\-]{8,24}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:$|[T ])")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:$| )")
_COLUMN_NAME_JUNK = re.compile(r"[^a-z0-9]+")


@dataclass
class ParseStats:
    """What a parse saw; the report keeps it to explain itself (R8)."""

    rows: int = 0  # data rows seen (header and blank lines excluded)
    valid: int = 0
    invalid: int = 0  # includes future-dated rows and bad numbers/dates
    blank: int = 0
    future: int = 0  # rows dated after `today`
    samples: list[dict] = field(default_factory=list)  # first MAX_SAMPLES invalid rows: line, reason, value
    bytes_read: int = 0


@dataclass(frozen=True)
class ReportBatch:
    """Valid rows of a report as columns: line numbers, E.164 numbers, and the days they happened on."""

    lines: pa.Array  # int64
    numbers: pa.Array  # string, E.164
    days: pa.Array  # date32

    def __len__(self) -> int:
        return len(self.lines)

    def columns(self) -> tuple[pa.Array, pa.Array, pa.Array]:
        return self.lines, self.numbers, self.days


def parse_report(
    stream: BinaryIO, *, report_date: date | None, today: date, stats: ParseStats
) -> Iterator[tuple[int, str, date]]:
    """Yield (line number, E.164 number, occurred date) for each valid row, streaming (small callers, tests)."""
    for batch in report_batches(stream, report_date=report_date, today=today, stats=stats):
        for start in range(0, len(batch), ROWS_AT_A_TIME):
            columns = (column.slice(start, ROWS_AT_A_TIME).to_pylist() for column in batch.columns())
            yield from zip(*columns, strict=True)


def report_batches(
    stream: BinaryIO, *, report_date: date | None, today: date, stats: ParseStats
) -> Iterator[ReportBatch]:
    """The valid rows of a report in batches of columns, streaming; `stats` counts and names the rest (R8)."""
    blocks = line_blocks(text_chunks(stream, stats))
    held, first_line, first, ahead = _sniff(blocks)
    layout = _layout(first, ahead)
    if layout.date is None and report_date is None:
        raise NotAReport("the file has no date column; give the report date")
    stats.blank += first_line - 1
    last_skipped = first_line if layout.header else first_line - 1
    rows = _RowReader(layout, report_date=report_date, today=today, stats=stats)
    for block in chain(held, blocks):
        block = block.after(last_skipped)
        if len(block):
            yield rows(block)
    logger.info(
        "report.parsed rows=%d valid=%d invalid=%d blank=%d future=%d bytes=%d",
        stats.rows,
        stats.valid,
        stats.invalid,
        stats.blank,
        stats.future,
        stats.bytes_read,
    )


def _sniff(blocks: Iterator[Lines]) -> tuple[list[Lines], int, str | BadLine, list[str | BadLine]]:
    """Read ahead to the first non-blank line and SNIFF_ROWS after it: the blocks read, that line, the rest."""
    held: list[Lines] = []
    first_line = None
    for block in blocks:
        held.append(block)
        if first_line is None:
            content = pc.or_(pc.is_null(block.text), pc.not_equal(pc.utf8_trim(block.text, _BLANK), ""))
            at = pc.index(content, True).as_py()
            if at < 0:
                continue
            first_line = block.numbers[at].as_py()
        if block.numbers[-1].as_py() >= first_line + SNIFF_ROWS:
            break
    if first_line is None:
        raise NotAReport("not a deactivation report: the file is empty")
    lines = [line for block in held for line in _python_lines(block, first_line, SNIFF_ROWS + 1)]
    return held, first_line, lines[0], lines[1 : SNIFF_ROWS + 1]


def _python_lines(block: Lines, from_line: int, count: int) -> list[str | BadLine]:
    """Up to `count` lines of a block from line `from_line` on, as Python values (for the layout only)."""
    part = block.after(from_line - 1)
    texts = part.text.slice(0, count).to_pylist()
    return [part.bad.get(index, text) for index, text in enumerate(texts)]


class _RowReader:
    """Blocks of lines to batches of valid rows, counting and sampling the rest; no Python per row (R8, R10)."""

    def __init__(self, layout: "_Layout", *, report_date: date | None, today: date, stats: ParseStats) -> None:
        self.layout = layout
        self.report_date = report_date
        self.today = pa.scalar(today, pa.date32())
        self.stats = stats
        self.normalize = UsNumberColumn()
        self.dates: dict[str, date | str] = {}

    def __call__(self, block: Lines) -> ReportBatch:
        layout, text = self.layout, block.text
        blank = pc.fill_null(pc.equal(pc.utf8_trim(text, _BLANK), ""), False)
        raw = column_field(text, layout.phone, layout.delimiter)
        numbers, reasons = self.normalize(raw)
        reasons = pc.if_else(pc.equal(pc.utf8_trim_whitespace(raw), ""), "no phone number", reasons)
        values, dated = raw, pa.repeat(False, len(text))
        if layout.date is None:
            days = pa.repeat(pa.scalar(self.report_date, pa.date32()), len(text))
        else:
            cells = column_field(text, layout.date, layout.delimiter)
            days, date_reasons = self._days(cells)
            dated = pc.and_(pc.is_null(reasons), pc.is_valid(date_reasons))
            values = pc.if_else(dated, cells, values)
            reasons = pc.coalesce(reasons, date_reasons)
        future = pc.and_(pc.is_null(reasons), pc.fill_null(pc.greater(days, self.today), False))
        reasons = pc.if_else(future, "date in the future", reasons)
        values = pc.if_else(future, pc.cast(days, pa.string()), values)
        dated = pc.or_(dated, future)
        if block.bad:
            at = pa.array([index in block.bad for index in range(len(text))])
            bad = list(block.bad.values())
            reasons = pc.replace_with_mask(reasons, at, pa.array([line.reason for line in bad], pa.string()))
            values = pc.replace_with_mask(values, at, pa.array([line.excerpt for line in bad], pa.string()))
            dated = pc.replace_with_mask(dated, at, pa.repeat(False, len(bad)))
        reasons = pc.if_else(blank, pa.scalar(None, pa.string()), reasons)
        self._count(block, blank, future, reasons, values, dated)
        keep = pc.and_(pc.invert(blank), pc.is_null(reasons))
        return ReportBatch(pc.filter(block.numbers, keep), pc.filter(numbers, keep), pc.filter(days, keep))

    def _days(self, cells: pa.Array) -> tuple[pa.Array, pa.Array]:
        """Each date cell read once per distinct value: the day, or why not."""
        distinct = pc.unique(cells)
        if len(self.dates) + len(distinct) > DATE_CACHE_SIZE:
            self.dates.clear()  # per-row timestamps would grow the cache without bound
        read = [
            self.dates[cell] if cell in self.dates else self.dates.setdefault(cell, _read_date(cell, self.report_date))
            for cell in distinct.to_pylist()
        ]
        at = pc.index_in(cells, value_set=distinct)
        days = pa.array([None if isinstance(day, str) else day for day in read], pa.date32())
        why = pa.array([day if isinstance(day, str) else None for day in read], pa.string())
        return pc.take(days, at), pc.take(why, at)

    def _count(self, block: Lines, blank, future, reasons, values, dated) -> None:
        """Add a block's counts to the stats, and its invalid rows to the samples while there is room (R8)."""
        stats = self.stats
        blanks = pc.sum(blank).as_py() or 0
        invalid = len(reasons) - reasons.null_count
        stats.blank += blanks
        stats.rows += len(block) - blanks
        stats.invalid += invalid
        stats.valid += len(block) - blanks - invalid
        stats.future += pc.sum(future).as_py() or 0
        room = MAX_SAMPLES - len(stats.samples)
        if invalid and room > 0:
            wrong = pc.is_valid(reasons)
            picked = [pc.filter(column, wrong).slice(0, room).to_pylist()
                      for column in (block.numbers, reasons, values, dated)]  # fmt: skip
            for line, reason, value, is_date in zip(*picked, strict=True):
                stats.samples.append(sample(line, reason, value or "", is_date=bool(is_date)))


def sample(line_number: int, reason: str, value: str, *, is_date: bool = False) -> dict:
    """An invalid row as the operator sees it: a short excerpt, numbers masked (R8, R12)."""
    # A date cell is shown as it is unless it could hold a misplaced phone number.
    value = masked(shown(value[:SAMPLE_CHARS]), moment=is_date)
    return {"line": line_number, "reason": reason, "value": value}


@dataclass(frozen=True)
class _Layout:
    """Where the data sits in each line."""

    delimiter: str
    header: bool
    phone: int
    date: int | None


def shown(text: str) -> str:
    """File content fit to store in a message or sample: PostgreSQL text and JSON cannot hold a NUL, and one
    in a bad row would otherwise fail the whole report (R8)."""
    return text.replace("\x00", "\N{SYMBOL FOR NULL}")


def _read_date(text: str, fallback: date | None) -> date | str:
    """The date in a cell (ISO 8601 or MM/DD/YYYY; a timestamp with an offset counts in UTC), or why not."""
    value = text.strip().strip("\"'").strip()
    if not value:
        return fallback if fallback is not None else "no date"
    try:
        if _ISO_DATE.match(value):
            moment = datetime.fromisoformat(value)
            return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
        if match := _US_DATE.match(value):
            month, day, year = map(int, match.groups())
            return date(year, month, day)
    except ValueError:
        pass
    return "unreadable date"


# --- Layout: header or not, which column is the phone, which the date ---


def _layout(first: str | BadLine, ahead: list[str | BadLine]) -> _Layout:
    """Read the layout from the first non-blank line and the few after it, or refuse the file."""
    texts = [line for line in (first, *ahead) if line.__class__ is str and line.strip(_BLANK)]
    if not texts:
        raise NotAReport("not a deactivation report: its first lines are not readable text")
    delimiter = _delimiter(texts[0])
    if first.__class__ is str:
        first_fields, rest = _split(first, delimiter), texts[1:]
    else:
        first_fields, rest = [], texts
    names = [_column_name(value) for value in first_fields]
    header = bool(first_fields) and not any(map(_phone_like, first_fields))
    header = header and (
        any(name in KNOWN_COLUMNS for name in names) or all(map(_has_letter, filter(str.strip, first_fields)))
    )
    data = [_split(line, delimiter) for line in rest]
    if not header and first_fields:
        data.insert(0, first_fields)

    phone = _named(names, PHONE_COLUMNS) if header else None
    if phone is None:
        phone = _column_by_content(data, _phone_like)
    if phone is None:
        if header:
            header_text = shown(", ".join(masked(value.strip()) for value in first_fields)[:80])
            raise NotAReport(f"not a deactivation report: no phone number column (header: {header_text})")
        raise NotAReport(f"not a deactivation report: no phone numbers in its first {len(data)} rows")
    day = _named(names, DATE_COLUMNS) if header else None
    if day is None:
        day = _column_by_content(data, _date_like, skip=phone)
    return _Layout(delimiter=delimiter, header=header, phone=phone, date=day)


def _delimiter(line: str) -> str:
    """The most frequent of the usual separators; a one-column file has none and gets a comma."""
    counts = {candidate: line.count(candidate) for candidate in ",\t;|"}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


def _split(line: str, delimiter: str) -> list[str]:
    """A line's fields, honouring quotes."""
    if '"' not in line:
        return line.split(delimiter)
    try:
        return next(csv.reader((line,), delimiter=delimiter, skipinitialspace=True))
    except (csv.Error, StopIteration):
        return line.split(delimiter)


def _column_name(value: str) -> str:
    """'  "Phone Number" ' -> 'phone_number'."""
    return _COLUMN_NAME_JUNK.sub("_", value.strip().strip("\"'").lower()).strip("_")


def _named(names: list[str], wanted: tuple[str, ...]) -> int | None:
    """The index of the best-ranked wanted name among a header's names."""
    for name in wanted:
        if name in names:
            return names.index(name)
    return None


def _column_by_content(
    rows: list[list[str]], looks_right: Callable[[str], bool], skip: int | None = None
) -> int | None:
    """The column where most rows hold a value that looks right; None when no row does."""
    hits: dict[int, int] = {}
    for fields in rows:
        for index, value in enumerate(fields):
            if index != skip and looks_right(value):
                hits[index] = hits.get(index, 0) + 1
    if not hits:
        return None
    return max(sorted(hits), key=hits.__getitem__)


def _phone_like(value: str) -> bool:
    """10-15 digits, optionally with '+' and the usual punctuation: a phone number, not a date or an id."""
    value = value.strip().strip("\"'")
    return bool(_PHONE_LIKE.fullmatch(value)) and 10 <= sum(ch.isdigit() for ch in value) <= 15


def _date_like(value: str) -> bool:
    """A cell that reads as a date."""
    return isinstance(_read_date(value, None), date)


def _has_letter(value: str) -> bool:
    """Header cells are words."""
    return any(ch.isalpha() for ch in value)
