"""A report file's bytes as checked text: decompression within limits, encoding, what is not text (R8, R10).

reports/columns.py cuts the chunks into lines and decodes them with `_decode_lines` here.

Everything streams in chunks, so a file of any size, compressed or not, is never held whole; what is plainly
not a text report (HTML, binary, a decompression bomb) fails as a whole with a clear message.
"""

import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO, NamedTuple, Protocol

CHUNK_BYTES = 64 * 1024
MAX_LINE_CHARS = 4 * 1024
MAX_DECOMPRESSED_BYTES = 2 * 1024**3
# Deflate tops out near 1000:1; phone-number CSVs compress 3-10:1. Past this ratio it is a bomb, not a report.
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_AFTER_BYTES = 1024**2
SAMPLE_CHARS = 40
ZIP_SPOOL_IN_MEMORY_BYTES = 1024**2

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
UTF8_BOM = b"\xef\xbb\xbf"
# Bytes a text file is made of; anything else in the first chunk counts towards "binary".
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)) + b"\t\n\v\f\r"


class NotAReport(ValueError):
    """The file as a whole is not a deactivation report (binary, HTML, no phone column, empty)."""


class ByteCount(Protocol):
    """Where the bytes read are counted (the parse's stats)."""

    bytes_read: int


class BadLine(NamedTuple):
    """A line that never became text: too long, or not UTF-8."""

    reason: str
    excerpt: str


def _text_chunks(stream: BinaryIO, stats: ByteCount) -> Iterator[bytes]:
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


def _read(stream: BinaryIO, stats: ByteCount) -> Iterator[bytes]:
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


def _decode_lines(data: bytes) -> list[str | BadLine]:
    """Complete lines as text; a line that is not UTF-8 or is too long becomes a BadLine."""
    try:
        lines: list[str | BadLine] = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines = [_decode_line(raw) for raw in data.split(b"\n")]
    if len(data) > MAX_LINE_CHARS and max(map(len, lines)) > MAX_LINE_CHARS:
        lines = [
            BadLine("line too long", line[:SAMPLE_CHARS]) if len(line) > MAX_LINE_CHARS else line for line in lines
        ]
    return lines


def _decode_line(raw: bytes) -> str | BadLine:
    """One line as text, or why not."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadLine("not UTF-8", _excerpt(raw))


def _excerpt(raw: bytes) -> str:
    """The start of some bytes, readable whatever they hold."""
    return raw[:SAMPLE_CHARS].decode("utf-8", "replace")
