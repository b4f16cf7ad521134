"""The columnar reader of operator CSVs reads exactly what the row-by-row reader reads (R8), without a Python
loop per row on plain text (R10); consent timestamps read per column equal parse_timestamp's."""

import io
import sys

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts import csv_columns
from contacts.csv_columns import read_batches, timestamp_column
from contacts.csvio import BadFile, RowErrors, parse_timestamp, read_rows

REQUIRED = ["phone", "sender_code", "list", "opted_in_at"]
OPTIONAL = ["email", "carrier"]
HEADERS = [
    b"phone,sender_code,list,opted_in_at,email,carrier\n",
    b"phone,sender_code,list,opted_in_at\r\n",
    b"\xef\xbb\xbfPhone , sender_code,list,opted_in_at,carrier\n",
    b'"phone",sender_code,list,opted_in_at\n',
    b"phone,list\n",
    b"\n",
    b"\xef\xbb\xbf",
]
# Cells of a real file, and what hostile or careless files hold: quotes, CR, NUL, odd spaces, bad UTF-8,
# formula-escaped cells, a BOM in the middle, very long cells.
CELLS = ["+12025550143", "(202) 555-0143", "45678", "Alerts", "2025-01-01T00:00:00Z", "a@b.c", "Verizon", ""]
ODD = [" ", "\t", ",", '"', "\r\n", "\n", "\r", "\x00", "\x0b", "é", "\u3000", "\xa0", "\x85", "'=1+2", "'  @x",
       "\ufeff", "x" * 70_000]  # fmt: skip
SAME_EXAMPLES = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def files(draw) -> bytes:
    """A header, then rows of mostly plain cells with the odd one in between; sometimes a byte of bad UTF-8."""
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        cells = draw(st.lists(st.one_of(st.sampled_from(CELLS), st.sampled_from(ODD)), max_size=8))
        rows.append(",".join(cells))
    body = "\n".join(rows).encode()
    if draw(st.booleans()) and b"\xc3\xa9" in body:
        body = body.replace(b"\xc3\xa9", b"\xc3", 1)
    return draw(st.sampled_from(HEADERS)) + body


def by_rows(data: bytes):
    errors = RowErrors()
    try:
        rows = list(read_rows(io.BytesIO(data), required=REQUIRED, optional=OPTIONAL, kind="subscriptions",
                              errors=errors))  # fmt: skip
    except BadFile as exc:
        return str(exc)
    return rows, errors.count, errors.samples


def by_columns(data: bytes):
    errors = RowErrors()
    rows = []
    try:
        for batch in read_batches(io.BytesIO(data), required=REQUIRED, optional=OPTIONAL, kind="subscriptions"):
            columns = {name: column.to_pylist() for name, column in batch.columns.items()}
            for at, line in enumerate(batch.lines.to_pylist()):
                rows.append((line, {name: values[at] for name, values in columns.items()}))
            csv_columns.add_sorted(errors, batch.bad)
    except BadFile as exc:
        return str(exc)
    return rows, errors.count, errors.samples


@pytest.mark.parametrize("block_bytes", [csv_columns.BLOCK_BYTES, 64])
def test_r8_the_columnar_reader_reads_what_the_row_reader_reads(monkeypatch, block_bytes):
    # Small blocks put block ends everywhere: inside a quoted cell, after a CR, across a long line.
    monkeypatch.setattr(csv_columns, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(csv_columns, "READ_BYTES", max(7, block_bytes // 4))

    @settings(max_examples=150, **SAME_EXAMPLES)
    @given(files())
    def same(data):
        assert by_columns(data) == by_rows(data)

    same()


def test_r8_bad_rows_of_a_big_plain_file_are_named_with_their_lines(monkeypatch):
    monkeypatch.setattr(csv_columns, "BLOCK_BYTES", 4096)
    rows = [f"+1202555{n:04d},45678,Alerts,2025-01-01" for n in range(2000)]
    rows[700] = "+12025550143,45678,Alerts,2025-01-01,,,stray"
    rows[1500] = "+12025550143,45678,Al\x00erts,2025-01-01"
    data = HEADERS[0] + "\n".join(rows).encode() + b"\n"

    assert by_columns(data) == by_rows(data)
    _, count, samples = by_columns(data)
    assert (count, samples) == (2, [{"line": 702, "reason": "7 fields; the header has 6"},
                                    {"line": 1502, "reason": "a field holds a NUL character"}])  # fmt: skip


def test_r10_plain_text_is_split_by_arrow_not_by_the_csv_module(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the csv module read a block of plain text")

    monkeypatch.setattr(csv_columns, "_by_csv_module", refuse)
    monkeypatch.setattr(csv_columns, "BLOCK_BYTES", 4096)
    body = "".join(f"+1202555{n:04d},45678,Alerts,2025-01-01T00:00:00Z,s{n}@example.com,Verizon\r\n"
                   for n in range(1000))  # fmt: skip
    batches = list(read_batches(io.BytesIO(HEADERS[0] + body.encode()), required=REQUIRED, optional=OPTIONAL,
                                kind="subscriptions"))  # fmt: skip
    assert len(batches) > 1
    assert sum(len(batch) for batch in batches) == 1000


def test_the_plain_text_test_leaves_out_every_space_python_strips_but_the_space_and_the_tab():
    spaces = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace() and chr(c) not in " \t\n")
    flagged = pa.compute.match_substring_regex(pa.array(list(spaces)), csv_columns._NOT_PLAIN).to_pylist()
    assert all(flagged)
    assert not pa.compute.match_substring_regex(pa.array([" \t,é"]), csv_columns._NOT_PLAIN)[0].as_py()


STAMP_PARTS = st.tuples(
    st.integers(0, 10000), st.integers(0, 13), st.integers(0, 32), st.sampled_from(["T", " ", "t", ""]),
    st.integers(0, 25), st.integers(0, 61), st.integers(0, 61), st.sampled_from(["", ".5", ".123456", ".1234567"]),
    st.sampled_from(["", "Z", "+05:30", "-08:00", "+24:00", "+0100", "-23:59"]),
)  # fmt: skip


@st.composite
def stamps(draw) -> str:
    year, month, day, sep, hour, minute, second, fraction, offset = draw(STAMP_PARTS)
    text = f"{year:04d}-{month:02d}-{day:02d}"
    if sep:
        text += f"{sep}{hour:02d}:{minute:02d}"
        if draw(st.booleans()):
            text += f":{second:02d}{fraction}"
        text += offset
    return draw(st.one_of(st.just(text), st.text(max_size=30)))


@settings(max_examples=500, **SAME_EXAMPLES)
@given(st.lists(stamps(), min_size=1, max_size=20))
def test_r8_consent_timestamps_read_per_column_equal_parse_timestamp(texts):
    expected = []
    for text in texts:
        try:
            expected.append(parse_timestamp(text))
        except (ValueError, OverflowError):
            expected.append(None)
    assert timestamp_column(pa.array(texts, pa.string())).to_pylist() == expected
