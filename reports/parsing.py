"""Deactivation report files: bytes in, (line, E.164 number, date) rows and named row errors out (R8, R10).

AWS does not publish the report's columns, and operators upload other providers' files, so the layout is read
from the file itself: a header naming the columns, or else the columns whose content looks like phone numbers
and dates. Everything streams: a file of any size is read in chunks and never held whole (R10).
"""

import csv
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain, islice
from typing import BinaryIO

from contacts.phones import InvalidNumber, UsNormalizer, masked
from reports.reading import SAMPLE_CHARS, BadLine, NotAReport, text_lines

logger = logging.getLogger(__name__)

MAX_SAMPLES = 100
SNIFF_ROWS = 20
DATE_CACHE_SIZE = 4096


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


def parse_report(
    stream: BinaryIO, *, report_date: date | None, today: date, stats: ParseStats
) -> Iterator[tuple[int, str, date]]:
    """Yield (line number, E.164 number, occurred date) for each valid row, streaming."""
    lines = text_lines(stream, stats)
    line_number = 0
    for first in lines:
        line_number += 1
        if first.__class__ is not str or first.strip(_BLANK):
            break
        stats.blank += 1
    else:
        raise NotAReport("not a deactivation report: the file is empty")
    ahead = list(islice(lines, SNIFF_ROWS))
    layout = _layout(first, ahead)
    if layout.date is None and report_date is None:
        raise NotAReport("the file has no date column; give the report date")
    rows = chain(ahead, lines) if layout.header else chain([first], ahead, lines)
    start = line_number + 1 if layout.header else line_number
    yield from _rows(rows, start, layout, report_date=report_date, today=today, stats=stats)
    logger.info(
        "report.parsed rows=%d valid=%d invalid=%d blank=%d future=%d bytes=%d",
        stats.rows,
        stats.valid,
        stats.invalid,
        stats.blank,
        stats.future,
        stats.bytes_read,
    )


@dataclass(frozen=True)
class _Layout:
    """Where the data sits in each line."""

    delimiter: str
    header: bool
    phone: int
    date: int | None


def _rows(
    lines: Iterable[str | BadLine],
    start: int,
    layout: _Layout,
    *,
    report_date: date | None,
    today: date,
    stats: ParseStats,
) -> Iterator[tuple[int, str, date]]:
    """The per-row loop; kept lean because it runs once per row of multi-million-row files (R10)."""
    normalize = UsNormalizer()
    delimiter, phone_at, date_at = layout.delimiter, layout.phone, layout.date
    dates: dict[str, date | str] = {}
    for line_number, line in enumerate(lines, start):
        if line.__class__ is not str:
            stats.rows += 1
            _reject(stats, line_number, line.reason, line.excerpt)
            continue
        fields = _split(line, delimiter) if '"' in line else line.split(delimiter)
        raw = fields[phone_at] if phone_at < len(fields) else ""
        try:
            number = normalize(raw)
        except InvalidNumber as exc:
            if not line.strip(_BLANK):
                stats.blank += 1
                continue
            stats.rows += 1
            _reject(stats, line_number, "no phone number" if not raw.strip() else str(exc), raw)
            continue
        stats.rows += 1
        if date_at is None:
            occurred = report_date
        else:
            text = fields[date_at] if date_at < len(fields) else ""
            occurred = dates.get(text)
            if occurred is None:
                if len(dates) >= DATE_CACHE_SIZE:
                    dates.clear()  # per-row timestamps would grow the cache without bound
                occurred = dates[text] = _read_date(text, report_date)
            if occurred.__class__ is str:
                _reject(stats, line_number, occurred, text, is_date=True)
                continue
        if occurred > today:
            stats.future += 1
            _reject(stats, line_number, "date in the future", occurred.isoformat(), is_date=True)
            continue
        stats.valid += 1
        yield line_number, number, occurred


def _reject(stats: ParseStats, line_number: int, reason: str, value: str, *, is_date: bool = False) -> None:
    """Count an invalid row and keep the first few, numbers masked, for the operator (R8, R12)."""
    stats.invalid += 1
    if len(stats.samples) < MAX_SAMPLES:
        # A date cell is shown as it is unless it could hold a misplaced phone number.
        value = masked(shown(value[:SAMPLE_CHARS]), moment=is_date)
        stats.samples.append({"line": line_number, "reason": reason, "value": value})


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
