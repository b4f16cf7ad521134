"""CSV files in and out for operators: header checks, rows with line numbers, sampled row
errors (R8), ISO-8601 timestamps, and formula-safe cells for spreadsheets (R12)."""

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.text import slugify

from contacts.phones import masked

SAMPLES = 100
SNIFF_BYTES = 8192
MAX_FIELD = 64 * 1024  # no legitimate cell is bigger; a bigger one is a bad row, not a crash


class BadFile(ValueError):
    """The file as a whole is not what the command reads; nothing was changed."""


@dataclass
class RowErrors:
    """Invalid rows: counted, the first ones kept with their line number and reason (R8)."""

    count: int = 0
    samples: list[dict] = field(default_factory=list)

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.samples) < SAMPLES:
            self.samples.append({"line": line, "reason": reason})


def read_rows(
    stream: BinaryIO, *, required: list[str], optional: list[str], kind: str, errors: RowErrors
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, {column: value}) for each data row of a CSV with the given header."""
    head = opened(stream, kind)
    # Undecodable bytes become surrogates so one bad row is reported, not the whole file.
    text = io.TextIOWrapper(_Rejoined(head, stream), encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    header = checked_header(reader, required=required, optional=optional, kind=kind)
    yield from header_rows(reader, header, errors.add)


def opened(stream: BinaryIO, kind: str) -> bytes:
    """The file's first bytes, once they show it is neither empty nor binary; BadFile otherwise."""
    head = stream.read(SNIFF_BYTES)
    if not head.strip():
        raise BadFile(f"not a {kind} CSV: the file is empty")
    if b"\x00" in head:
        raise BadFile(f"not a {kind} CSV: the file is binary")
    return head


@dataclass(frozen=True)
class Header:
    """A file's header: how many columns it has, and where each column we read sits."""

    width: int
    positions: dict[str, int]


def checked_header(reader, *, required: list[str], optional: list[str], kind: str) -> Header:
    """The header row read from a csv reader, or BadFile when it lacks a required column."""
    expected = ",".join(required + [f"[{c}]" for c in optional])
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (csv.Error, StopIteration) as exc:
        raise BadFile(f"not a {kind} CSV: unreadable header ({exc})") from None
    missing = [c for c in required if c not in header]
    if missing:
        # A file without its header starts with a data row: never echo its number (R12).
        shown = ",".join(masked(cell) for cell in header)[:200]
        raise BadFile(f"not a {kind} CSV: header must be {expected}; got {shown!r} (missing {', '.join(missing)})")
    return Header(len(header), {c: header.index(c) for c in required + optional if c in header})


def header_rows(
    reader, header: Header, bad: Callable[[int, str], None], *, lines_before: int = 0
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows after the header as (line number, {column: value}); `bad(line, reason)` hears of the others."""
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            bad(lines_before + reader.line_num, f"unreadable row: {exc}")
            continue
        line = lines_before + reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if any(len(f) > MAX_FIELD for f in fields):
            bad(line, "a field is too long")
            continue
        if len(fields) > header.width and any(f.strip() for f in fields[header.width :]):
            # Cells past the header's last column: a stray delimiter or broken quoting shifted the row.
            bad(line, f"{len(fields)} fields; the header has {header.width}")
            continue
        row = {c: unescape_cell(fields[i].strip()) if i < len(fields) else "" for c, i in header.positions.items()}
        if any(_has_surrogates(v) for v in row.values()):
            bad(line, "not UTF-8 text")
            continue
        if any("\x00" in v for v in row.values()):
            # PostgreSQL text cannot hold NUL: stored, it would fail the whole file instead of this row.
            bad(line, "a field holds a NUL character")
            continue
        yield line, row


class _Rejoined(io.RawIOBase):
    """The sniffed head followed by the rest of the stream, read in chunks."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 to an aware UTC datetime; a date alone is 00:00 UTC, no offset means UTC."""
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# An E.164 number: "+", a first digit 1-9, then digits, 8 to 16 characters in all (ASCII digits only: Python's
# `\d` would take any script's). Said once, for Python's `re` here and for PostgreSQL in escape_cell_sql, which
# tests the length apart: a bounded repetition like {6,14} costs PostgreSQL's regex engine ~4x more per cell.
E164_SHAPE, E164_LENGTHS = r"\+[1-9][0-9]*", (8, 16)
# A US number as phones.masked_display writes it: our own fixed shape, digits, brackets and asterisks only, so
# no spreadsheet can run it; left as written, like E.164, so a re-engagement file shows +1 (202) ***-0143.
MASKED_US_PATTERN = r"\+1 \([0-9]{3}\) \*\*\*-[0-9]{4}"
# `\Z`, not `$`: a trailing newline is not excused.
E164 = re.compile(rf"^(?=.{{{E164_LENGTHS[0]},{E164_LENGTHS[1]}}}\Z){E164_SHAPE}\Z", re.DOTALL)
MASKED_US = re.compile(rf"^{MASKED_US_PATTERN}\Z")
# What makes Excel, LibreOffice or Google Sheets read a cell as a formula (or a DDE call), the full-width
# forms included; spreadsheets skip leading spaces before deciding.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def escape_cell(value) -> str:
    """Keep a spreadsheet from running a cell as a formula (R12); a validated E.164 number stays data."""
    text = "" if value is None else str(value)
    if text.lstrip(" ").startswith(FORMULA_START) and not (E164.match(text) or MASKED_US.match(text)):
        return "'" + text
    return text


def escape_cell_sql(expression: str) -> str:
    """escape_cell as a PostgreSQL expression over a text expression, for files the database writes itself
    (COPY … TO STDOUT): the same rule from the same constants, so both paths write the same bytes (R12)."""
    # The statement is sent without parameters, so '%' and a raw tab or newline inside a literal need no quoting;
    # in the bracket expression '-' goes last, so it is no range. CASE tries its branches in order (PostgreSQL
    # guarantees it), cheapest first: most cells start with neither a formula character nor a space and leave
    # at the first test (a regular expression costs about a microsecond a cell); an E.164 number at the second.
    x = expression
    starts = "".join(c for c in FORMULA_START if c != "-") + "-"
    return (
        f"CASE WHEN {x} = '' OR strpos(' {starts}', left({x}, 1)) = 0 THEN {x} "
        f"WHEN length({x}) BETWEEN {E164_LENGTHS[0]} AND {E164_LENGTHS[1]} AND {x} ~ '^{E164_SHAPE}$' THEN {x} "
        f"WHEN ltrim({x}, ' ') ~ '^[{starts}]' AND {x} !~ '^(?:{MASKED_US_PATTERN})$' THEN '''' || {x} "
        f"ELSE {x} END"
    )


def unescape_cell(text: str) -> str:
    """Undo escape_cell, so an exported file reads back as the values it was made from."""
    if text.startswith("'") and text[1:].lstrip(" ").startswith(FORMULA_START):
        return text[1:]
    return text


class _Line:
    """A file-like object whose write() hands back the line, so csv.writer can feed a generator."""

    def write(self, text: str) -> str:
        return text


# "\r" in the writer's line terminator makes it quote a cell holding a carriage return, as PostgreSQL's COPY
# does (a bare CR ends a row for most readers); each row then ends in "\n" alone.
_WRITER = csv.writer(_Line(), lineterminator="\r\n")


def csv_row(values: Iterable) -> str:
    """One CSV line of formula-safe cells (R12), ending in "\n": the bytes COPY writes for the same values."""
    return _WRITER.writerow([escape_cell(v) for v in values])[:-2] + "\n"


def write_csv(out, header: list[str], rows: Iterable[Iterable]) -> int:
    """Write a header and formula-safe rows to a text stream; returns the row count."""
    out.write(csv_row(header))
    count = 0
    for row in rows:
        out.write(csv_row(row))
        count += 1
    return count


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The header and formula-safe rows as CSV lines, one at a time: memory stays flat for any row count."""
    yield csv_row(header)
    for row in rows:
        yield csv_row(row)


def csv_download(lines: Iterable[str], *name: str) -> StreamingHttpResponse:
    """A CSV attachment streamed line by line (never the whole file in memory), named by download_name."""
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{download_name(*name)}"'
    return response


def download_name(*parts: str) -> str:
    """`part-part-YYYYmmdd-HHMM.csv` from slugs: ASCII letters, digits, `-` and `_` only, so no value a sender
    code holds (a quote, a `;`, a newline, a path) can change the header it goes in (issue 13)."""
    slug = "-".join(filter(None, (slugify(part) for part in parts))) or "export"
    return f"{slug}-{timezone.now():%Y%m%d-%H%M}.csv"
