"""Property-based tests: no input makes a parser raise anything but its documented error (R8), and every valid
number comes back as the same E.164 whatever way it is written (R11).

Each property runs with a few hundred examples in `make test` and with many thousands under `make soak`.
"""

import gzip
import io
import re
import string
from datetime import date

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from contacts import phones
from contacts.csvio import BadFile, RowErrors, read_rows
from reports.intake import text_fields
from reports.notices import NoticeIntake
from reports.parsing import ParseStats, parse_report
from reports.reading import NotAReport
from reports.receipts import ReceiptIntake
from reports.views import Refused, batch_items

E164 = re.compile(r"\+[1-9]\d{6,14}")
TODAY = date(2026, 11, 23)

examples = pytest.mark.parametrize("runs", [200, pytest.param(2000, marks=pytest.mark.slow, id="soak")])


def check(runs: int, *strategies, **kwargs):
    """Run the decorated property `runs` times over the strategies (no example database: nothing left behind)."""

    def run(prop):
        quiet = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much]
        options = settings(max_examples=runs, deadline=None, database=None, suppress_health_check=quiet)
        options(given(*strategies, **kwargs)(prop))()

    return run


# What people type: digits, the usual punctuation, a plus, letters, and anything at all.
PHONE_ALPHABET = string.digits * 3 + " +-().x/#*" + "abcT"
phone_text = st.one_of(
    st.text(alphabet=PHONE_ALPHABET, max_size=30),
    st.text(max_size=60),
    st.from_regex(r"\+?1?[2-9]\d{2}[2-9]\d{6}", fullmatch=True),
    st.text(alphabet="0123456789٠١٢٣٤٥٦٧٨٩０１２３４５６７８９+", max_size=15),  # other scripts' digits
)


@st.composite
def us_numbers(draw) -> phonenumbers.PhoneNumber:
    """A valid US number (the metadata's own verdict), from all of the NANP's area codes and exchanges."""
    national = draw(st.integers(200, 999)) * 10**7 + draw(st.integers(200, 999)) * 10**4 + draw(st.integers(0, 9999))
    number = phonenumbers.PhoneNumber(country_code=1, national_number=national)
    assume(phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == "US")
    return number


def written_ways(number: phonenumbers.PhoneNumber) -> list[str]:
    """The ways a US number reaches us: E.164, national, international, RFC 3966, bare and dotted digits."""
    fmt = phonenumbers.PhoneNumberFormat
    digits = str(number.national_number)
    return [
        *(phonenumbers.format_number(number, style) for style in (fmt.E164, fmt.NATIONAL, fmt.INTERNATIONAL)),
        phonenumbers.format_number(number, fmt.RFC3966),
        digits,
        "1" + digits,
        f"{digits[:3]}.{digits[3:6]}.{digits[6:]}",
        f" +1 ({digits[:3]}) {digits[3:6]}-{digits[6:]} ",
    ]


@examples
def test_normalizers_return_e164_or_raise_invalid_number(runs):
    fast = phones.UsNormalizer()

    @check(runs, phone_text)
    def prop(raw):
        for normalize in (phones.normalize, phones.normalize_us, fast):
            try:
                assert E164.fullmatch(normalize(raw))
            except phones.InvalidNumber as exc:
                assert str(exc)  # a reason an operator can read

    # The fast path gives the authority's answer on every input, valid or not.
    @check(runs, phone_text)
    def same_answers(raw):
        assert _answer(fast, raw) == _answer(phones.normalize_us, raw)


def _answer(normalize, raw: str) -> str:
    try:
        return normalize(raw)
    except phones.InvalidNumber as exc:
        return f"invalid: {exc}"


@examples
def test_a_valid_us_number_round_trips_through_every_common_format(runs):
    fast = phones.UsNormalizer()

    @check(runs, us_numbers())
    def prop(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        for written in written_ways(number):
            assert phones.normalize(written) == phones.normalize_us(written) == fast(written) == e164
        assert phones.normalize(phones.display(e164)) == e164


@examples
def test_a_valid_number_anywhere_round_trips_from_international_and_national_formats(runs):
    regions = sorted(phonenumbers.SUPPORTED_REGIONS)
    kinds = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]

    @check(runs, st.sampled_from(regions), st.sampled_from(kinds))
    def prop(region, kind):
        number = phonenumbers.example_number_for_type(region, kind)
        assume(number is not None and phonenumbers.is_valid_number(number))
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        assert phones.normalize(e164) == e164
        assert phones.normalize(phones.display(e164)) == e164
        assert phones.normalize(national, region) == e164


@examples
def test_mask_hides_all_but_four_digits_and_keeps_the_shape(runs):
    @check(runs, st.one_of(phone_text, us_numbers().map(lambda n: f"+1{n.national_number}")))
    def prop(value):
        masked = phones.mask(value)
        assert len(masked) == len(value)
        for before, after in zip(value, masked):
            assert after == before or (before.isdigit() and after == "*")
        assert sum(c.isdigit() for c in masked) <= 5  # the last four, and a country code's first digit


# --- Report files ---

REPORT_HEADERS = ["phone_number,deactivation_date", "MSISDN;date", "number", "e164\tevent_date", ""]


@st.composite
def report_files(draw) -> bytes:
    """Something like a report, often broken: a header or none, rows of phone-ish and date-ish cells."""
    header = draw(st.sampled_from(REPORT_HEADERS))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    cell = st.one_of(phone_text, st.dates().map(str), st.sampled_from(["11/20/2026", "2026-11-20T10:00:00Z", ""]))
    rows = draw(st.lists(st.lists(cell, min_size=1, max_size=3).map(delimiter.join), max_size=30))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = newline.join([header, *rows] if header else rows).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = draw(st.binary(max_size=8)) + data  # junk before it: a BOM, a NUL, half a character
    if draw(st.booleans()):
        data = gzip.compress(data)
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]  # cut short in transit
    return data


def parse_all(data: bytes, report_date: date | None) -> tuple[list, ParseStats]:
    stats = ParseStats()
    rows = list(parse_report(io.BytesIO(data), report_date=report_date, today=TODAY, stats=stats))
    return rows, stats


@examples
def test_a_report_file_parses_or_fails_as_not_a_report(runs):
    @check(runs, st.one_of(report_files(), st.binary(max_size=4096)), st.sampled_from([None, date(2026, 11, 20)]))
    def prop(data, report_date):
        try:
            rows, stats = parse_all(data, report_date)
        except NotAReport as exc:
            assert str(exc)
            return
        for _, number, day in rows:
            assert E164.fullmatch(number) and number.startswith("+1")
            assert day <= TODAY
        assert stats.valid == len(rows)
        assert stats.rows == stats.valid + stats.invalid
        assert len(stats.samples) == min(stats.invalid, 100)


# --- CSV intakes (operators' files, receipts, notices) ---


@st.composite
def csv_files(draw) -> bytes:
    header = draw(st.sampled_from(["phone,carrier,event,occurred_at", "PHONE, Carrier ,event,occurred_at,extra", ""]))
    cell = st.one_of(phone_text, st.text(max_size=20), st.just('"'), st.just('"a,"b"'))
    rows = draw(st.lists(st.lists(cell, max_size=6).map(",".join), max_size=20))
    data = "\n".join([header, *rows]).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        position = draw(st.integers(0, len(data)))
        data = data[:position] + draw(st.binary(min_size=1, max_size=4)) + data[position:]
    return data


@examples
def test_read_rows_yields_rows_or_raises_bad_file(runs):
    required = ["phone", "carrier", "event", "occurred_at"]

    @check(runs, st.one_of(csv_files(), st.binary(max_size=2048)))
    def prop(data):
        errors = RowErrors()
        try:
            rows = list(read_rows(io.BytesIO(data), required=required, optional=["extra"], kind="notices",
                                  errors=errors))  # fmt: skip
        except BadFile as exc:
            assert str(exc).startswith("not a notices CSV")
            return
        for line, row in rows:
            assert line >= 2 and set(required) <= set(row)
            assert all(isinstance(value, str) for value in row.values())
            text = "".join(row.values())
            text.encode("utf-8")  # never a lone surrogate from a bad byte
            assert "\x00" not in text  # nor a NUL, which PostgreSQL cannot store
        assert errors.count >= len(errors.samples)


# --- Receipt and notice items (an API batch's items, a CSV file's rows) ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | phone_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def items(fields: list[str]):
    """An item with the intake's own field names (and others), each holding any JSON value; or not an object."""
    known = st.fixed_dictionaries({}, optional={name: json_values for name in fields})
    return st.one_of(known, json_values)


@pytest.mark.django_db
@examples
def test_a_receipt_or_notice_item_is_staged_or_refused_with_a_reason(runs):
    for intake in (ReceiptIntake(channel="api"), NoticeIntake(channel="api")):

        @check(runs, items(intake.FIELDS))
        def prop(item):
            try:
                values = intake.stage(text_fields(item, intake.FIELDS))
            except ValueError as exc:
                assert str(exc)
                return
            assert E164.fullmatch(values["phone"])


@examples
def test_an_api_body_is_a_batch_or_a_400_or_413(runs):
    bodies = st.one_of(
        st.binary(max_size=512),
        st.builds(lambda v: repr(v).encode(), json_values),
        st.builds(lambda v: ('{"receipts": %s}' % v).encode(), st.text(max_size=40)),
    )

    @check(runs, bodies)
    def prop(body):
        try:
            assert isinstance(batch_items(body, "receipts"), list)
        except Refused as refused:
            assert refused.status in (400, 413) and refused.message
