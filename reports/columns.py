"""A file's text as batches of columns: lines split and fields picked out by Arrow, not by a loop per row (R10).

The bytes come decompressed and checked from `reading.text_chunks`. They are cut into blocks of whole lines
(CR and CRLF made LF); a block that is valid UTF-8 and has no overlong line — nearly every block of a real
file — is split into lines and fields by Arrow's kernels. A block that is not goes through `reading`'s own
line decoder, so a bad line there is named exactly as before (R8) and costs Python time only for that block.
"""

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from reports.reading import MAX_LINE_CHARS, UTF8_BOM, BadLine
from reports.reading import _decode_lines as decode_lines
from reports.reading import _excerpt as excerpt

BLOCK_BYTES = 256 * 1024  # lines per batch: ~10,000 report rows; small enough for flat memory (R10)


@dataclass(frozen=True)
class Lines:
    """A block of consecutive lines: line numbers, text (null where the line was bad), and the bad lines."""

    numbers: pa.Array  # int64 line numbers, counted from 1 at the file's first line
    text: pa.Array  # string; a bad line is null here and listed in `bad`
    bad: dict[int, BadLine]  # index in the block -> why the line never became text

    def __len__(self) -> int:
        return len(self.text)

    def after(self, line_number: int) -> "Lines":
        """The lines numbered past `line_number` (the header and what precedes it dropped)."""
        skip = max(0, min(len(self), line_number - self.numbers[0].as_py() + 1)) if len(self) else 0
        if not skip:
            return self
        bad = {index - skip: line for index, line in self.bad.items() if index >= skip}
        return Lines(self.numbers.slice(skip), self.text.slice(skip), bad)


def line_blocks(chunks: Iterable[bytes]) -> Iterator[Lines]:
    """The text's lines in blocks of about BLOCK_BYTES; a line too long is a BadLine, never held (R10)."""
    next_line = 1
    for block in _blocks(chunks):
        lines = _lines(block)
        count = len(lines[0])
        yield Lines(pa.array(range(next_line, next_line + count), pa.int64()), *lines)
        next_line += count


def _blocks(chunks: Iterable[bytes]) -> Iterator[bytes | BadLine]:
    """Runs of whole lines (LF only, no final LF) or, for a line past the limit, its BadLine."""
    parts: list[bytes] = []
    size = 0
    held_cr, first = False, True
    skipping: str | None = None  # the excerpt of an overlong line whose end is still to come
    for chunk in chunks:
        if first:
            chunk, first = chunk.removeprefix(UTF8_BOM), False
        if held_cr:
            chunk = b"\r" + chunk
        # A CR ending the chunk may be half of a CRLF; decide when the next chunk shows its first byte.
        held_cr = chunk.endswith(b"\r")
        if held_cr:
            chunk = chunk[:-1]
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if skipping is not None:
            end = chunk.find(b"\n")
            if end < 0:
                continue
            yield BadLine("line too long", skipping)
            skipping, chunk = None, chunk[end + 1 :]
        parts.append(chunk)
        size += len(chunk)
        if size < BLOCK_BYTES:
            continue
        data = b"".join(parts)
        end = data.rfind(b"\n")
        if end < 0:
            if size > 4 * MAX_LINE_CHARS:  # over the limit whatever the encoding
                skipping, parts, size = excerpt(data), [], 0
            continue
        yield data[:end]
        rest = data[end + 1 :]
        if len(rest) > 4 * MAX_LINE_CHARS:
            skipping, rest = excerpt(rest), b""
        parts, size = [rest], len(rest)
    if skipping is not None:
        yield BadLine("line too long", skipping)
        return
    data = b"".join(parts)
    if data:
        yield data[:-1] if data.endswith(b"\n") else data  # the last LF ends a line; it starts none


def _lines(block: bytes | BadLine) -> tuple[pa.Array, dict[int, BadLine]]:
    """A block's lines as an Arrow string column; the slow path only for a block holding a bad line."""
    if isinstance(block, BadLine):
        return pa.nulls(1, pa.string()), {0: block}
    try:
        text = pa.array([block], pa.binary()).cast(pa.string())  # validates UTF-8 in one pass
    except pa.ArrowInvalid:
        text = None
    if text is not None:
        lines = pc.split_pattern(text, "\n").flatten()
        if len(block) <= MAX_LINE_CHARS or pc.max(pc.utf8_length(lines)).as_py() <= MAX_LINE_CHARS:
            return lines, {}
    decoded = decode_lines(block)
    bad = {index: line for index, line in enumerate(decoded) if line.__class__ is not str}
    return pa.array([None if index in bad else line for index, line in enumerate(decoded)], pa.string()), bad


def field(text: pa.Array, index: int, delimiter: str) -> pa.Array:
    """Field `index` of each line ("" where a line has fewer fields), honouring quotes where a line has them."""
    padded = pc.binary_join_element_wise(text, delimiter * index, "")  # every line gets field `index`
    values = pc.list_element(pc.split_pattern(padded, delimiter, max_splits=index + 1), index)
    values = pc.fill_null(values, "")  # a bad line's fields: its BadLine says what is wrong
    quoted = pc.match_substring(text, '"')
    if not pc.any(quoted).as_py():
        return values
    # Quotes are rare in reports; those lines go through the csv module, which knows every quoting rule.
    lines = pc.filter(text, quoted).to_pylist()
    fields = [_quoted_field(line, index, delimiter) for line in lines]
    return pc.replace_with_mask(values, pc.fill_null(quoted, False), pa.array(fields, pa.string()))


def _quoted_field(line: str, index: int, delimiter: str) -> str:
    try:
        fields = next(csv.reader((line,), delimiter=delimiter, skipinitialspace=True))
    except (csv.Error, StopIteration):
        fields = line.split(delimiter)
    return fields[index] if index < len(fields) else ""
