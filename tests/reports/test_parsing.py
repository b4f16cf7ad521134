"""Deactivation report parsing: every file shape we meet, row errors named (R8), memory flat (R10)."""

import gzip
import io
import os
import sys
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from datetime import date

import pytest

from reports.parsing import MAX_SAMPLES, NotAReport, ParseStats, parse_report

TODAY = date(2026, 11, 21)
REPORT_DAY = date(2026, 11, 20)


class LazyStream(io.RawIOBase):
    """A read-only binary file whose bytes are produced on demand, at most `step` per read."""

    def __init__(self, pieces: Iterable[bytes], step: int | None = None) -> None:
        self._pieces = iter(pieces)
        self._buffer = b""
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray) -> int:
        while not self._buffer:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._buffer = piece
        size = min(len(target), len(self._buffer), self._step or len(target))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def parse(data: bytes | io.RawIOBase, *, report_date: date | None = REPORT_DAY) -> tuple[list, ParseStats]:
    """All rows of a file and its stats."""
    stats = ParseStats()
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    rows = list(parse_report(stream, report_date=report_date, today=TODAY, stats=stats))
    return rows, stats


def refused(data: bytes | io.RawIOBase, **kwargs) -> str:
    """The message a file that is not a report is refused with."""
    with pytest.raises(NotAReport) as caught:
        parse(data, **kwargs)
    return str(caught.value)


def zipped(members: dict[str, bytes]) -> bytes:
    """A zip archive holding the given files, in order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def gzip_stream(block: bytes, repeat: int) -> bytes:
    """`block` repeated `repeat` times, gzipped without ever holding the whole plain text."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return b"".join([*(squeeze.compress(block) for _ in range(repeat)), squeeze.flush()])


AWS_LIKE = b"phone_number,deactivation_date\n+12025550143,2026-11-19\n+12025550144,2026-11-18T23:10:00Z\n"
AWS_ROWS = [(2, "+12025550143", date(2026, 11, 19)), (3, "+12025550144", date(2026, 11, 18))]


# --- File shapes ---


def test_r8_aws_like_header_gives_per_row_dates():
    rows, stats = parse(AWS_LIKE)
    assert rows == AWS_ROWS
    assert (stats.rows, stats.valid, stats.invalid, stats.blank) == (2, 2, 0, 0)
    assert stats.bytes_read == len(AWS_LIKE)


def test_r8_headerless_file_is_read_by_content():
    rows, stats = parse(b"2026-11-19,(202) 555-0143,verizon\n11/18/2026,202.555.0144,att\n")
    assert rows == [(1, "+12025550143", date(2026, 11, 19)), (2, "+12025550144", date(2026, 11, 18))]
    assert stats.rows == 2


@pytest.mark.parametrize("prefix", [b"", b"+"])
def test_r8_twilio_one_number_a_line_takes_the_report_date(prefix):
    data = b"".join(prefix + number + b"\n" for number in (b"12025550143", b"12025550144", b"13125550100"))
    rows, stats = parse(data)
    assert rows == [
        (1, "+12025550143", REPORT_DAY),
        (2, "+12025550144", REPORT_DAY),
        (3, "+13125550100", REPORT_DAY),
    ]
    assert stats.valid == 3


def test_r8_msisdn_csv_finds_its_columns_by_name():
    data = (
        b"MSISDN,COUNTRY,EVENT_TYPE,DEACTIVATION_DATE,CARRIER_NAME\n"
        b"12025550143,US,DEACTIVATION,2026-11-17,Verizon\n"
        b'"12025550144","US","DEACTIVATION","2026-11-16","AT&T, Inc."\n'
    )
    rows, _ = parse(data)
    assert rows == [(2, "+12025550143", date(2026, 11, 17)), (3, "+12025550144", date(2026, 11, 16))]


def test_r8_header_names_are_matched_loosely():
    rows, _ = parse(b'  "Phone Number" ; "Event Date"\n202-555-0143;2026-11-19\n')
    assert rows == [(2, "+12025550143", date(2026, 11, 19))]


@pytest.mark.parametrize(
    "newline",
    [b"\n", b"\r\n", b"\r"],
    ids=["LF", "CRLF", "CR"],
)
def test_r8_any_line_ending_and_a_bom_read_the_same(newline):
    data = b"\xef\xbb\xbf" + AWS_LIKE.replace(b"\n", newline)
    rows, stats = parse(data)
    assert rows == AWS_ROWS
    assert stats.blank == 0


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_r8_chunk_boundaries_change_nothing(newline):
    # Past the first 64 KiB the stream is read 7 bytes at a time, splitting lines, CRLFs and the row loop.
    rows = [b"+1202%07d,2026-11-19" % (2_000_000 + i) + (newline if i % 100 == 0 else b"") for i in range(8000)]
    data = b"\xef\xbb\xbf" + newline.join([b"phone_number,deactivation_date", *rows]) + newline
    whole, whole_stats = parse(data)
    trickled, trickled_stats = parse(LazyStream([data], step=7))
    assert len(whole) == 8000
    assert whole_stats.blank == 80
    assert trickled == whole
    assert trickled_stats == whole_stats


def test_r8_gzip_is_read_transparently():
    rows, stats = parse(gzip.compress(AWS_LIKE))
    assert rows == AWS_ROWS
    assert stats.bytes_read < len(AWS_LIKE) + 40


def test_r8_gzip_with_several_members_is_read_whole():
    head, tail = AWS_LIKE.split(b"+12025550144")
    rows, _ = parse(gzip.compress(head) + gzip.compress(b"+12025550144" + tail))
    assert rows == AWS_ROWS


def test_r8_zip_with_one_file_is_read_whatever_its_name():
    rows, _ = parse(zipped({"deactivations": AWS_LIKE}))
    assert rows == AWS_ROWS


def test_r8_zip_takes_its_first_csv_or_txt():
    rows, _ = parse(zipped({"__MACOSX/._x.csv": b"junk", "README.pdf": b"%PDF-1.4", "report.CSV": AWS_LIKE}))
    assert rows == AWS_ROWS


# --- Dates ---


def test_r8_row_date_wins_and_an_empty_cell_falls_back_to_the_report_date():
    rows, _ = parse(b"phone,date\n2025550143,2026-11-02\n2025550144,\n")
    assert rows == [(2, "+12025550143", date(2026, 11, 2)), (3, "+12025550144", REPORT_DAY)]


def test_r8_a_timestamp_with_an_offset_is_dated_in_utc():
    rows, _ = parse(b"phone,deactivated_at\n2025550143,2026-11-19T23:30:00-05:00\n")
    assert rows == [(2, "+12025550143", date(2026, 11, 20))]


def test_r8_no_date_anywhere_refuses_the_file():
    assert "no date column; give the report date" in refused(b"12025550143\n", report_date=None)


def test_r8_future_dates_are_invalid_and_counted():
    rows, stats = parse(b"phone,date\n2025550143,2026-11-21\n2025550144,2026-11-22\n2025550145,2027-01-01\n")
    assert rows == [(2, "+12025550143", TODAY)]
    assert (stats.rows, stats.valid, stats.invalid, stats.future) == (3, 1, 2, 2)
    assert stats.samples[0] == {"line": 3, "reason": "date in the future", "value": "2026-11-22"}


def test_r8_an_unreadable_date_is_a_row_error():
    rows, stats = parse(b"phone,date\n2025550143,2026-02-30\n2025550144,yesterday\n2025550145,2026-11-01\n")
    assert [row[0] for row in rows] == [4]
    assert [(s["line"], s["reason"]) for s in stats.samples] == [
        (2, "unreadable date"),
        (3, "unreadable date"),
    ]


# --- Row errors ---


def test_r8_blank_lines_are_counted_apart_from_rows():
    rows, stats = parse(b"\n\nphone,date\n\n2025550143,2026-11-19\n  \n,\n\n2025550144,2026-11-19\n\n")
    assert [row[0] for row in rows] == [5, 9]
    assert (stats.rows, stats.blank, stats.invalid) == (2, 7, 0)


def test_r6_duplicates_are_passed_through_for_the_database():
    rows, stats = parse(b"2025550143\n(202) 555-0143\n+1 202 555 0143\n")
    assert [number for _, number, _ in rows] == ["+12025550143"] * 3
    assert stats.valid == 3


def test_r8_bad_rows_are_named_with_their_line_numbers():
    data = (
        b"phone,date,carrier\n"
        b"2025550143,2026-11-19,verizon\n"
        b"202555014,2026-11-19,verizon\n"
        b"+1 416 555 0143,2026-11-19\n"
        b"+44 20 7946 0958,2026-11-19,bt\n"
        b",2026-11-19,verizon\n"
        b"hello,2026-11-19\n"
    )
    rows, stats = parse(data)
    assert [row[0] for row in rows] == [2]
    assert stats.samples == [
        {"line": 3, "reason": "too short", "value": "*****5014"},
        {"line": 4, "reason": "not a US number", "value": "+1 *** *** 0143"},
        {"line": 5, "reason": "not a US number", "value": "+4* ** **** 0958"},
        {"line": 6, "reason": "no phone number", "value": ""},
        {"line": 7, "reason": "not a phone number", "value": "hello"},
    ]
    assert (stats.rows, stats.valid, stats.invalid) == (6, 1, 5)


def test_r8_samples_stop_at_a_hundred_but_counts_stay_exact():
    bad = b"".join(b"555%07d,2026-11-19\n" % i for i in range(1000))
    rows, stats = parse(b"phone,date\n2025550143,2026-11-19\n" + bad + b"2025550144,2026-11-19\n")
    assert len(rows) == 2
    assert (stats.rows, stats.invalid) == (1002, 1000)
    assert len(stats.samples) == MAX_SAMPLES
    assert [s["line"] for s in stats.samples] == list(range(3, 3 + MAX_SAMPLES))


def test_r12_samples_never_hold_a_whole_number():
    _, stats = parse(b"phone,date\n+1 416 555 0143,2026-11-19\n2025550143,2026-13-45\n")
    for sample in stats.samples:
        assert "416 555" not in sample["value"]
        assert sum(ch.isdigit() for ch in sample["value"]) <= 9
    assert stats.samples[1] == {"line": 3, "reason": "unreadable date", "value": "2026-13-45"}


# --- Hostile input ---


@pytest.mark.parametrize("data", [b"", b"\n\n  \r\n\t\n"], ids=["zero bytes", "blank lines"])
def test_r8_an_empty_file_is_refused(data):
    assert refused(data) == "not a deactivation report: the file is empty"


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>", "an HTML page"),
        (b"\xef\xbb\xbf  <html>\n", "an HTML page"),
        (b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>', "an XML document"),
        (b'{"message": "Forbidden"}', "JSON"),
        (b"%PDF-1.7\n", "a PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000), "a binary file"),
        (b"\x00" * 5000, "a binary file"),
    ],
    ids=["html", "html after BOM", "xml", "json", "pdf", "png", "nuls"],
)
def test_r8_files_that_are_not_reports_are_named(data, looks_like):
    assert refused(data).startswith(f"not a deactivation report: looks like {looks_like}")


def test_r8_utf16_text_is_refused_with_advice():
    assert "UTF-16" in refused("phone\n2025550143\n".encode("utf-16"))


def test_r8_a_header_without_a_phone_column_is_refused():
    message = refused(b"carrier,deactivation_date\nverizon,2026-11-19\n")
    assert message == "not a deactivation report: no phone number column (header: carrier, deactivation_date)"


def test_r8_rows_without_phone_numbers_are_refused():
    assert "no phone numbers in its first" in refused(b"1,2,3\n4,5,6\n")


def test_r8_a_latin1_row_is_one_bad_row():
    rows, stats = parse(b"phone,name\n2025550143,Jose\n2025550144,Jos\xe9\n2025550145,Zoe\n")
    assert [row[0] for row in rows] == [2, 4]
    assert stats.samples == [{"line": 3, "reason": "not UTF-8", "value": "******0144,Jos\ufffd"}]


def test_r8_a_stray_nul_is_one_bad_row():
    good = b"".join(b"20255%05d\n" % i for i in range(2000, 9000))
    rows, stats = parse(good + b"2025\x00550143\n" + good)
    assert len(rows) == 14000
    # Shown as a symbol: PostgreSQL cannot store a NUL in the report's samples.
    assert stats.samples == [{"line": 7001, "reason": "not a phone number", "value": "****\N{SYMBOL FOR NULL}**0143"}]


def test_r8_a_huge_line_is_one_bad_row_and_is_never_held():
    megabyte = b"9" * 1024**2
    stream = LazyStream([b"2025550143\n", *(megabyte for _ in range(100)), b"\n2025550144\n"])
    tracemalloc.start()
    try:
        rows, stats = parse(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [row[0] for row in rows] == [1, 3]
    assert stats.samples == [{"line": 2, "reason": "line too long", "value": "*" * 36 + "9999"}]
    assert stats.bytes_read == 100 * 1024**2 + 23
    assert peak < 4 * 1024**2


def test_r8_a_gzip_bomb_of_zeros_is_refused():
    bomb = gzip_stream(b"\x00" * 1024**2, 50)
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        message = refused(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == "not a deactivation report: looks like a binary file"
    assert peak < 4 * 1024**2


def test_r8_a_gzip_bomb_of_text_is_refused_by_its_ratio():
    bomb = gzip_stream(b"2025550143\n" * 100_000, 20)
    assert "likely decompression bomb" in refused(bomb)


def test_r8_a_cut_short_gzip_is_refused():
    data = gzip.compress(b"".join(b"20255%05d\n" % i for i in range(2000, 9000)))
    assert "cut short" in refused(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("members", "says"),
    [
        ({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"}, "Excel workbook"),
        ({"a.pdf": b"%PDF", "b.png": b"\x89PNG"}, "no .csv or .txt"),
        ({}, "zip file is empty"),
    ],
)
def test_r8_a_zip_without_a_report_is_refused(members, says):
    assert says in refused(zipped(members))


def test_r8_a_corrupt_zip_is_refused():
    data = zipped({"report.csv": AWS_LIKE * 100})
    assert "not a readable zip file" in refused(data[:-30])


# --- Memory ---


def generated_report(rows: int) -> Iterator[bytes]:
    """A report of `rows` valid rows, produced a thousand lines at a time from one reused block."""
    block = b"".join(b"+1202%07d,2026-11-%02d\n" % (2_000_000 + i, 1 + i % 20) for i in range(1000))
    yield b"phone_number,deactivation_date\n"
    for _ in range(rows // 1000):
        yield block


def parsed_rows(stream: io.RawIOBase, stats: ParseStats) -> Iterator[tuple[int, str, date]]:
    """The rows of a generated report, dated per row."""
    return parse_report(stream, report_date=None, today=TODAY, stats=stats)


def test_r10_parsing_needs_a_few_megabytes_whatever_the_file_size():
    parse(b"2025550143\n")  # phonenumbers loads its metadata once; that is not the parser's memory
    stats = ParseStats()
    stream = LazyStream(generated_report(300_000))  # 7 MB of CSV
    tracemalloc.start()
    try:
        seen = sum(1 for _ in parsed_rows(stream, stats))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 300_000
    assert peak < 2 * 1024**2, f"peak {peak / 1024**2:.1f} MiB"


def test_r10_memory_stays_flat_on_millions_of_rows():
    # tracemalloc makes each allocation cost microseconds; millions of rows are watched by live block count.
    parse(b"2025550143\n")
    stats = ParseStats()
    rows = parsed_rows(LazyStream(generated_report(3_000_000)), stats)
    baseline = sys.getallocatedblocks()
    growth = 0
    for seen, _ in enumerate(rows, 1):
        if seen % 250_000 == 0:
            growth = max(growth, sys.getallocatedblocks() - baseline)
    assert stats.valid == 3_000_000
    assert growth < 20_000, f"{growth} more live blocks after {stats.valid} rows"
