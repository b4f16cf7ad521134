"""An operator CSV as batches of columns: the same header check and row errors as `csvio.read_rows`, with the
splitting done by Arrow's kernels, not by a Python loop per row (R8, R10).

The bytes are cut into blocks of whole lines. A block of plain text — valid UTF-8, no quote, no control or
unusual space character, no line longer than a field may be — is split into lines and fields by Arrow: in
such a block every line is one record and every field is what the csv module would read. Any other block
goes through `csvio.header_rows` itself, so a bad row there is named exactly as before and costs Python time
only for that block. A quote may open a field that runs past the block's end, so from the first quote on
the rest of the file is read by the csv module.
"""

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from contacts.csvio import (
    FORMULA_START,
    MAX_FIELD,
    Header,
    RowErrors,
    checked_header,
    header_rows,
    opened,
    parse_timestamp,
)
from contacts.phones import masked

BLOCK_BYTES = 256 * 1024  # ~4,000 rows of a subscriptions file a batch: flat memory (R10)
READ_BYTES = 64 * 1024
BATCH_ROWS = 4_000  # rows a batch when the csv module reads them
UTF8_BOM = b"\xef\xbb\xbf"
# Characters that make a line more than "fields between commas": controls (NUL among them), the quote, and
# every space Python's str.strip() removes besides the space and the tab (so Arrow's trim equals it).
_NOT_PLAIN = '[\\x{0}-\\x{8}\\x{b}-\\x{1f}\\x{7f}-\\x{9f}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"]'  # noqa: E501
_BLANK = "^[ \\t,]*$"
# The ISO-8601 shapes Arrow reads to the same instant as datetime.fromisoformat (years kept clear of the ends,
# where an offset would overflow); every other value is read by parse_timestamp itself.
_MOMENT = (
    r"^(?:[1-8]\d{3}|9[0-8]\d{2}|99[0-8]\d|999[0-8])-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?)?$"
)
_OFFSET = r"(?P<sign>[+-])(?P<hours>\d{2}):(?P<minutes>\d{2})$"
UTC_MICROS = pa.timestamp("us", tz="UTC")
NO_REASON = pa.scalar(None, pa.string())
_ESCAPED = "^' *[" + "".join(f"\\x{{{ord(c):x}}}" for c in FORMULA_START) + "]"


@dataclass
class RowBatch:
    """Rows of a file as string columns (stripped, unescaped as `csvio.read_rows` gives them), with their line
    numbers, and the rows of the same stretch of the file that could not be read (line, reason)."""

    lines: pa.Array  # int64
    columns: dict[str, pa.Array]
    bad: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)


def read_batches(stream: BinaryIO, *, required: list[str], optional: list[str], kind: str) -> Iterator[RowBatch]:
    """The data rows of a CSV with the given header, in batches of columns; BadFile when it is not such a file."""
    head = opened(stream, kind)
    blocks = _blocks(chain([head], iter(lambda: stream.read(READ_BYTES), b"")))
    first = next(blocks, b"")
    header_line, newline, rest = (first or b"").partition(b"\n")
    if not first or not _plain(header_line.removesuffix(b"\r") if newline else header_line):
        # No line at all, or an unusual header: the csv module reads the whole file, exactly as read_rows does.
        reader = _reader(chain([first] if first else [], blocks))
        header = checked_header(reader, required=required, optional=optional, kind=kind)
        yield from _by_csv_module(reader, header, lines_before=0)
        return
    names = header_line.removesuffix(b"\r").decode().split(",")
    header = checked_header(iter([names]), required=required, optional=optional, kind=kind)
    line = 1
    for block in chain([rest], blocks):
        if block == b"":
            continue
        if block is None or b'"' in block:
            # A long line without its end, or a quote: from here on the csv module reads, as it always did.
            reader = _reader(chain([] if block is None else [block], blocks))
            yield from _by_csv_module(reader, header, lines_before=line)
            return
        batch, lines = _split(block, header, line)
        line += lines
        if len(batch) or batch.bad:
            yield batch


def _blocks(chunks: Iterator[bytes]) -> Iterator[bytes | None]:
    """Runs of whole lines (each ending with its LF, the last maybe not); None ahead of a line too long to hold,
    after which the rest comes as it was read. The first block starts after a UTF-8 BOM."""
    parts: list[bytes] = []
    size = 0
    first = True
    for chunk in chunks:
        if first:
            chunk, first = chunk.removeprefix(UTF8_BOM), False
        parts.append(chunk)
        size += len(chunk)
        if size < BLOCK_BYTES:
            continue
        data = b"".join(parts)
        end = data.rfind(b"\n") + 1
        if not end:
            yield None
            yield data
            yield from chunks
            return
        yield data[:end]
        parts, size = [data[end:]], len(data) - end
    if size:
        yield b"".join(parts)


def _plain(line: bytes) -> bool:
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return False
    return len(text) <= MAX_FIELD and not pc.match_substring_regex(pa.array([text]), _NOT_PLAIN)[0].as_py()


def _split(block: bytes, header: Header, line_before: int) -> tuple[RowBatch, int]:
    """A block's rows as columns, and how many lines the block held; Arrow's kernels when the text is plain."""
    data = block.replace(b"\r\n", b"\n") if b"\r" in block else block
    try:
        text = pa.array([data], pa.binary()).cast(pa.string())  # validates UTF-8 in one pass
    except pa.ArrowInvalid:
        text = None
    if b"\r" in data or text is None or pc.match_substring_regex(text, _NOT_PLAIN)[0].as_py():
        return _block_by_csv_module(block, header, line_before)
    lines = pc.split_pattern(text, "\n").flatten()
    if data.endswith(b"\n"):
        lines = lines.slice(0, len(lines) - 1)  # the last LF ends a line; it starts none
    if len(data) > MAX_FIELD and pc.max(pc.utf8_length(lines)).as_py() > MAX_FIELD:
        return _block_by_csv_module(block, header, line_before)
    numbers = pa.array(range(line_before + 1, line_before + 1 + len(lines)), pa.int64())
    width = header.width
    # Each line padded with `width` commas splits into its first `width` fields and the rest of the line.
    fields = pc.split_pattern(pc.binary_join_element_wise(lines, "," * width, ""), ",", max_splits=width)
    blank = pc.match_substring_regex(lines, _BLANK)
    wide = pc.greater(pc.count_substring(lines, ","), width - 1)
    shifted = pc.and_(wide, pc.invert(pc.match_substring_regex(pc.list_element(fields, width), _BLANK)))
    commas = pc.filter(pc.count_substring(lines, ","), shifted).to_pylist()
    bad = [(line, f"{count + 1} fields; the header has {width}")
           for line, count in zip(pc.filter(numbers, shifted).to_pylist(), commas, strict=True)]  # fmt: skip
    keep = pc.and_(pc.invert(blank), pc.invert(shifted))
    columns = {name: _cell(pc.filter(pc.list_element(fields, at), keep)) for name, at in header.positions.items()}
    return RowBatch(pc.filter(numbers, keep), columns, bad), len(lines)


def _cell(values: pa.Array) -> pa.Array:
    """str.strip() and csvio.unescape_cell over a column of plain text (spaces and tabs are its only blanks)."""
    values = pc.utf8_trim(values, " \t")
    return pc.if_else(pc.match_substring_regex(values, _ESCAPED), pc.utf8_slice_codeunits(values, 1), values)


def _block_by_csv_module(block: bytes, header: Header, line_before: int) -> tuple[RowBatch, int]:
    """One block read by the csv module: its rows named exactly as read_rows names them (R8)."""
    reader = _reader([block])
    batches = list(_by_csv_module(reader, header, lines_before=line_before, rows=None))
    return batches[0], reader.line_num


def _reader(chunks: Iterable[bytes | None]):
    # Undecodable bytes become surrogates so one bad row is reported, not the whole file (as read_rows).
    text = _Chunks(chunk for chunk in chunks if chunk is not None)  # None only marks where a long line began
    return csv.reader(io.TextIOWrapper(text, encoding="utf-8", errors="surrogateescape", newline=""))


def _by_csv_module(reader, header: Header, *, lines_before: int, rows: int | None = BATCH_ROWS) -> Iterator[RowBatch]:
    """What csvio.header_rows reads, in batches of `rows` rows (all in one when None)."""
    bad: list[tuple[int, str]] = []
    read = header_rows(reader, header, lambda line, reason: bad.append((line, reason)), lines_before=lines_before)
    while True:
        part = list(islice(read, rows)) if rows else list(read)
        if not part and not bad and rows:
            return
        lines = pa.array([line for line, _ in part], pa.int64())
        columns = {name: pa.array([row[name] for _, row in part], pa.string()) for name in header.positions}
        yield RowBatch(lines, columns, bad)
        if not rows or not part:
            return
        bad = []


class _Chunks(io.RawIOBase):
    """A readable stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks, self.held = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.held:
            self.held = next(self.chunks, None)
            if self.held is None:
                self.held = b""
                return 0
        n = min(len(buffer), len(self.held))
        buffer[:n], self.held = self.held[:n], self.held[n:]
        return n


def failures(lines: pa.Array, reasons: pa.Array) -> list[tuple[int, str]]:
    """(line, reason) for each row with a reason."""
    wrong = pc.is_valid(reasons)
    return list(zip(pc.filter(lines, wrong).to_pylist(), pc.filter(reasons, wrong).to_pylist(), strict=True))


def add_sorted(errors: RowErrors, bad: list[tuple[int, str]]) -> None:
    """Count a batch's bad rows and sample them in line order, as a row-by-row reading would (R8)."""
    for line, reason in sorted(bad):
        errors.add(line, reason)


def timestamp_column(texts: pa.Array) -> pa.Array:
    """csvio.parse_timestamp over a column: aware UTC instants, null where a value is not ISO-8601."""
    stamps = pa.nulls(len(texts), UTC_MICROS)
    shaped = pc.fill_null(pc.match_substring_regex(texts, _MOMENT), False)
    if pc.any(shaped).as_py():
        read = _shaped_stamps(pc.filter(texts, shaped))
        if read is None:
            shaped = pa.repeat(False, len(texts))  # a day that does not exist: parse_timestamp says which
        else:
            stamps = pc.replace_with_mask(stamps, shaped, read)
    rest = pc.invert(shaped)
    if pc.any(rest).as_py():
        others = pc.filter(texts, rest)
        distinct = pc.unique(others)
        read = pa.array([_parsed(text) for text in distinct.to_pylist()], UTC_MICROS)
        stamps = pc.replace_with_mask(stamps, rest, pc.take(read, pc.index_in(others, value_set=distinct)))
    return stamps


def _shaped_stamps(texts: pa.Array) -> pa.Array | None:
    """Values of _MOMENT's shape as UTC instants; None when one names a day the calendar lacks."""
    local = pc.replace_substring_regex(pc.replace_substring_regex(texts, "Z$", ""), _OFFSET, "")
    try:
        stamps = local.cast(pa.timestamp("us"))
    except pa.ArrowInvalid:
        return None
    offset = pc.extract_regex(texts, _OFFSET)  # null where the value has no offset (UTC)
    minutes = pc.add(pc.multiply(pc.cast(pc.struct_field(offset, "hours"), pa.int64()), 60),
                     pc.cast(pc.struct_field(offset, "minutes"), pa.int64()))  # fmt: skip
    minutes = pc.if_else(pc.equal(pc.struct_field(offset, "sign"), "-"), pc.negate(minutes), minutes)
    micros = pc.multiply(pc.fill_null(minutes, 0), 60_000_000)
    utc = pc.subtract(pc.cast(stamps, pa.int64()), micros)
    return pc.cast(utc, UTC_MICROS)


def _parsed(text: str):
    try:
        return parse_timestamp(text)
    except ValueError:
        return None


def per_value(values: pa.Array, decide: Callable[[str], tuple[int | None, str | None]]) -> tuple[pa.Array, pa.Array]:
    """decide(value) -> (id or None, what is wrong or None), asked once per distinct value of a column."""
    distinct = pc.unique(values)
    decided = [decide(value) for value in distinct.to_pylist()]
    at = pc.index_in(values, value_set=distinct)
    ids = pa.array([found for found, _ in decided], pa.int64())
    errors = pa.array([error for _, error in decided], pa.string())
    return pc.take(ids, at), pc.take(errors, at)


def moments(texts: pa.Array, *, column: str, now: pa.Scalar) -> tuple[pa.Array, pa.Array]:
    """A column of timestamps, and why a row's cannot stand: not ISO-8601, or later than `now` (R8)."""
    stamps = timestamp_column(texts)
    unread = pc.is_null(stamps)
    distinct = pc.unique(pc.filter(texts, unread))
    shown = [f"{column} is not an ISO-8601 timestamp: {masked(text[:40], moment=True)!r}"
             for text in distinct.to_pylist()]  # fmt: skip
    unreadable = pc.take(pa.array(shown, pa.string()), pc.index_in(texts, value_set=distinct))
    future = pc.fill_null(pc.greater(stamps, now), False)
    return stamps, pc.if_else(unread, unreadable, pc.if_else(future, f"{column} is in the future", NO_REASON))
