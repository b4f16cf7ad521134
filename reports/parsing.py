"""Deactivation report files: bytes in, (line, E.164 number, date) rows and named row errors out (R8, R10).

AWS does not publish the report's columns, and operators upload other providers' files, so the layout is read
from the file itself: a header naming the columns, or else the columns whose content looks like phone numbers
and dates. Everything streams: a file of any size is read in chunks and never held whole (R10).
"""

import csv
import logging
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain, islice
from typing import BinaryIO, NamedTuple

from contacts.phones import InvalidNumber, UsNormalizer, mask

logger = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
MAX_LINE_CHARS = 4 * 1024
MAX_DECOMPRESSED_BYTES = 2 * 1024**3
# Deflate tops out near 1000:1; phone-number CSVs compress 3-10:1. Past this ratio it is a bomb, not a report.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_AFTER_BYTES = 1024**2
MAX_SAMPLES = 100
SNIFF_ROWS = 20
SAMPLE_CHARS = 40
DATE_CACHE_SIZE = 4096
ZIP_SPOOL_IN_MEMORY_BYTES = 1024**2

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
UTF8_BOM = b"\xef\xbb\xbf"

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

# Bytes a text file is made of; anything else in the first chunk counts towards "binary".
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)) + b"\t\n\v\f\r"
_BLANK = " \t,;|\"'"
_PHONE_LIKE = re.compile(r"\+?[0-9(][0-9 ().\-]{8,24}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:$|[T ])")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:$| )")
_COLUMN_NAME_JUNK = re.compile(r"[^a-z0-9]+")


class NotAReport(ValueError):
    """The file as a whole is not a deactivation report (binary, HTML, no phone column, empty)."""


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
    lines = chain.from_iterable(_line_batches(_text_chunks(stream, stats)))
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


class _BadLine(NamedTuple):
    """A line that never became text: too long, or not UTF-8."""

    reason: str
    excerpt: str


@dataclass(frozen=True)
class _Layout:
    """Where the data sits in each line."""

    delimiter: str
    header: bool
    phone: int
    date: int | None


def _rows(
    lines: Iterable[str | _BadLine],
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
        value = value[:SAMPLE_CHARS]
        # A date carries at most 8 digits; more in a date cell may be a misplaced phone number.
        if not is_date or sum(ch.isdigit() for ch in value) > 8:
            value = mask(value)
        stats.samples.append({"line": line_number, "reason": reason, "value": value})


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


def _layout(first: str | _BadLine, ahead: list[str | _BadLine]) -> _Layout:
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
            shown = ", ".join(value.strip() for value in first_fields)[:80]
            raise NotAReport(f"not a deactivation report: no phone number column (header: {shown})")
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


# --- Bytes: raw stream -> decompressed, checked text chunks -> lines ---


def _text_chunks(stream: BinaryIO, stats: ParseStats) -> Iterator[bytes]:
    """The file's text as byte chunks, decompressed if need be; refuse what is plainly not a text report."""
    magic, raw = _peek(_read(stream, stats), 4)
    if magic.startswith(GZIP_MAGIC):
        chunks = _gunzip(raw)
    elif magic.startswith(ZIP_MAGIC):
        chunks = _unzip(raw)
    elif magic.startswith(EMPTY_ZIP_MAGIC):
        raise NotAReport("not a deactivation report: the zip file is empty")
    else:
        chunks = raw
    head, chunks = _peek(chunks, CHUNK_BYTES)
    if not head:
        raise NotAReport("not a deactivation report: the file is empty")
    _refuse_non_text(head)
    return chunks


def _read(stream: BinaryIO, stats: ParseStats) -> Iterator[bytes]:
    """The stream in chunks, counted."""
    while chunk := stream.read(CHUNK_BYTES):
        stats.bytes_read += len(chunk)
        yield chunk


def _peek(chunks: Iterator[bytes], size: int) -> tuple[bytes, Iterator[bytes]]:
    """At least `size` leading bytes (fewer at the end of the file), and the chunks with nothing consumed."""
    parts: list[bytes] = []
    have = 0
    for chunk in chunks:
        parts.append(chunk)
        have += len(chunk)
        if have >= size:
            break
    head = b"".join(parts)
    return head, chain([head] if head else [], chunks)


def _refuse_non_text(head: bytes) -> None:
    """Name the usual wrong files: an HTML or XML error page, JSON, a PDF, UTF-16, binary data."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise NotAReport("not a deactivation report: it is UTF-16 text; save it as UTF-8 CSV")
    start = head.removeprefix(UTF8_BOM).lstrip()[:16].lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        raise NotAReport("not a deactivation report: looks like an HTML page")
    if start.startswith(b"<"):
        raise NotAReport("not a deactivation report: looks like an XML document (an error response?)")
    if start.startswith((b"{", b"[")):
        raise NotAReport("not a deactivation report: looks like JSON")
    if start.startswith(b"%pdf"):
        raise NotAReport("not a deactivation report: looks like a PDF")
    controls = len(head.translate(None, _TEXT_BYTES))
    # A stray control byte is a bad row; a first chunk sprinkled with them is not text at all.
    if controls * 100 > len(head):
        raise NotAReport("not a deactivation report: looks like a binary file")


def _check_inflation(produced: int, consumed: int) -> None:
    """Refuse decompression bombs before they fill memory or disk."""
    if produced > MAX_DECOMPRESSED_BYTES:
        raise NotAReport(
            f"not a deactivation report: it decompresses to more than {MAX_DECOMPRESSED_BYTES // 1024**3} GiB"
        )
    if produced > RATIO_CHECKED_AFTER_BYTES and produced > MAX_COMPRESSION_RATIO * max(consumed, 1):
        raise NotAReport(
            f"not a deactivation report: compressed more than {MAX_COMPRESSION_RATIO}:1, a likely decompression bomb"
        )


def _gunzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Inflate a gzip stream (several members allowed) in bounded steps."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    started = False
    consumed = produced = 0
    try:
        for chunk in chunks:
            data = chunk
            started = True
            while True:
                out = inflater.decompress(data, CHUNK_BYTES)
                rest = inflater.unconsumed_tail
                if inflater.eof:
                    rest = inflater.unused_data
                    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    started = bool(rest)
                consumed += len(data) - len(rest)
                produced += len(out)
                _check_inflation(produced, consumed)
                if out:
                    yield out
                data = rest
                # A full buffer may leave output pending inside zlib even when all input is consumed.
                if not data and len(out) < CHUNK_BYTES:
                    break
    except zlib.error as exc:
        raise NotAReport(f"not a deactivation report: not a readable gzip file ({exc})") from None
    if started:
        raise NotAReport("not a deactivation report: the gzip file is cut short")


def _unzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The report inside a zip: its only file, or its first .csv/.txt."""
    # A zip's directory sits at its end, so the archive is spooled (to disk past a small size) to seek in it.
    with tempfile.SpooledTemporaryFile(max_size=ZIP_SPOOL_IN_MEMORY_BYTES) as spool:
        for chunk in chunks:
            spool.write(chunk)
            if spool.tell() > MAX_DECOMPRESSED_BYTES:
                raise NotAReport("not a deactivation report: the zip file is too large")
        spool.seek(0)
        try:
            with zipfile.ZipFile(spool) as archive:
                member = _zip_member(archive)
                _check_inflation(member.file_size, member.compress_size)  # as declared, before reading
                produced = 0
                with archive.open(member) as inner:
                    # The declared sizes can lie; count what actually comes out.
                    while block := inner.read(CHUNK_BYTES):
                        produced += len(block)
                        _check_inflation(produced, member.compress_size)
                        yield block
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise NotAReport(f"not a deactivation report: not a readable zip file ({exc})") from None


def _zip_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """Choose the report among a zip's files."""
    files = [
        info
        for info in archive.infolist()
        if not info.is_dir() and not info.filename.startswith("__MACOSX/")
        and not info.filename.rsplit("/", 1)[-1].startswith(".")
    ]  # fmt: skip
    if any(info.filename == "[Content_Types].xml" for info in files):
        raise NotAReport("not a deactivation report: looks like an Excel workbook; export it as CSV")
    if len(files) == 1:
        return files[0]
    for info in files:
        if info.filename.lower().endswith((".csv", ".txt")):
            return info
    raise NotAReport(f"not a deactivation report: the zip holds {len(files)} files and no .csv or .txt")


def _line_batches(chunks: Iterable[bytes]) -> Iterator[list[str | _BadLine]]:
    """Split chunks into lines (LF, CRLF or CR), a list per chunk; overlong lines are skipped, not kept."""
    pending = b""  # the start of a line continued in the next chunk
    overlong: str | None = None  # the excerpt of a too-long line whose end we are still skipping
    held_cr = False
    first = True
    for chunk in chunks:
        if first:
            chunk = chunk.removeprefix(UTF8_BOM)
            first = False
        if held_cr:
            chunk = b"\r" + chunk
        # A CR ending the chunk may be half of a CRLF; decide when the next chunk shows its first byte.
        held_cr = chunk.endswith(b"\r")
        if held_cr:
            chunk = chunk[:-1]
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = chunk.rfind(b"\n")
        if end < 0:
            if overlong is None:
                pending += chunk
                if len(pending) > 4 * MAX_LINE_CHARS:  # over the limit whatever the encoding
                    overlong, pending = _excerpt(pending), b""
            continue
        complete = chunk[:end]
        if overlong is not None:
            cut = complete.find(b"\n")
            batch: list[str | _BadLine] = [_BadLine("line too long", overlong)]
            if cut >= 0:
                batch += _decode_lines(complete[cut + 1 :])
            overlong = None
        else:
            batch = _decode_lines(pending + complete)
        pending = chunk[end + 1 :]
        if len(pending) > 4 * MAX_LINE_CHARS:
            overlong, pending = _excerpt(pending), b""
        yield batch
    if overlong is not None:
        yield [_BadLine("line too long", overlong)]
    elif pending:
        yield _decode_lines(pending)


def _decode_lines(data: bytes) -> list[str | _BadLine]:
    """Complete lines as text; a line that is not UTF-8 or is too long becomes a _BadLine."""
    try:
        lines: list[str | _BadLine] = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = [_decode_line(raw) for raw in data.split(b"\n")]
    if len(data) > MAX_LINE_CHARS and max(map(len, lines)) > MAX_LINE_CHARS:
        lines = [
            _BadLine("line too long", line[:SAMPLE_CHARS]) if len(line) > MAX_LINE_CHARS else line for line in lines
        ]
    return lines


def _decode_line(raw: bytes) -> str | _BadLine:
    """One line as text, or why not."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _BadLine("not UTF-8", _excerpt(raw))


def _excerpt(raw: bytes) -> str:
    """The start of some bytes, readable whatever they hold."""
    return raw[:SAMPLE_CHARS].decode("utf-8", "replace")
