"""R11 phone numbers: phonenumbers is the authority, and the bulk fast path never disagrees with it."""

import multiprocessing
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor

import phonenumbers
import pyarrow as pa
import pytest

from contacts.csvio import escape_cell
from contacts.phone_columns import FileNumberColumn, UsNumberColumn
from contacts.phones import (
    FileNumbers,
    InvalidNumber,
    UsNormalizer,
    deciding_lengths,
    mask,
    masked,
    masked_display,
    masked_text,
    normalize,
    normalize_us,
)

SAME_NUMBER = [
    "2025550143",
    "(202) 555-0143",
    "+1 202-555-0143",
    "12025550143",
    "1-202-555-0143",
    "202.555.0143",
]

HOSTILE = [
    "",
    "   ",
    "letters",
    "abc-def-ghij",
    "202555014",  # 9 digits
    "2025550143012345",  # 16 digits
    "+44 20 7946 0958",
    "+1 416 555 0143",  # Toronto: +1, but Canada
    "+1 876 555 0143",  # Jamaica
    "202\x00555\x000143",
    "\x00" * 12,
    "٢٠٢٥٥٥٠١٤٣",  # Arabic-Indic digits
    "２０２５５５０１４３",  # fullwidth digits
    "+2025550143",  # "+" then ten digits is country code 20, not +1
    "1202555014",
    "0202555014",
    "12025550143x12",
    "202-555-0143 ext. 7",
    "1-800-FLOWERS",
    "202 555 0143 / 202 555 0144",
    "tel:+1-202-555-0143",
    "1+2025550143",
    "++12025550143",
    "2115550143",  # N11 service code as an area code
    "5235550143",  # personal-number range: decided by six digits, not four
    "8005550143",
    "9005550143",
    "+1\t202\t555\t0143",
    "\u00a0202 555 0143",
]


def outcome(normalizer, raw: str) -> str:
    """The E.164 result, or the reason it was refused."""
    try:
        return normalizer(raw)
    except InvalidNumber as exc:
        return f"invalid: {exc}"


def column_outcomes(raws: list[str], normalizer: UsNumberColumn | None = None) -> list[str]:
    """outcome() for each value, from the column form: one call for the whole list."""
    numbers, reasons = (normalizer or UsNumberColumn())(pa.array(raws, pa.string()))
    return [n if n is not None else f"invalid: {r}" for n, r in zip(numbers.to_pylist(), reasons.to_pylist())]


@pytest.mark.parametrize("raw", SAME_NUMBER)
def test_r11_common_formats_are_the_same_number(raw):
    assert normalize(raw) == "+12025550143"
    assert normalize_us(raw) == "+12025550143"
    assert UsNormalizer()(raw) == "+12025550143"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "not a phone number"),
        ("   ", "not a phone number"),
        ("letters", "not a phone number"),
        ("202555014", "too short"),
        ("2025550143012345", "too long"),
        ("202\x00555\x000143", "not a phone number"),
        ("2025550143 x12", "has an extension"),
        ("5555550143", "not a valid number"),
    ],
)
def test_r11_invalid_input_is_refused_with_a_reason(raw, reason):
    with pytest.raises(InvalidNumber, match=f"^{reason}$"):
        normalize(raw)
    with pytest.raises(InvalidNumber, match=f"^{reason}$"):
        UsNormalizer()(raw)


@pytest.mark.parametrize(("raw", "e164"), [("+44 20 7946 0958", "+442079460958"), ("+1 416 555 0143", "+14165550143")])
def test_r11_valid_foreign_numbers_are_not_us_numbers(raw, e164):
    assert normalize(raw) == e164
    with pytest.raises(InvalidNumber, match="^not a US number$"):
        normalize_us(raw)
    with pytest.raises(InvalidNumber, match="^not a US number$"):
        UsNormalizer()(raw)


def test_r11_a_megabyte_string_is_refused_quickly():
    huge = "2" * 1_000_000
    start = time.perf_counter()
    with pytest.raises(InvalidNumber, match="too long"):
        normalize_us(huge)
    with pytest.raises(InvalidNumber, match="too long"):
        UsNormalizer()(huge)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("raw", HOSTILE + SAME_NUMBER)
def test_r11_fast_path_agrees_with_phonenumbers_on_odd_input(raw):
    assert outcome(UsNormalizer(), raw) == outcome(normalize_us, raw)


def test_r11_column_form_agrees_with_phonenumbers_on_odd_and_common_input():
    raws = [*HOSTILE, *SAME_NUMBER, "+1 202 555 0143", "5235550143", "5235550143"]
    assert column_outcomes(raws) == [outcome(normalize_us, raw) for raw in raws]


def file_outcomes(raws: list[str], column: FileNumberColumn | None = None) -> list[str]:
    """What an import makes of each value, from the column form: E.164, or the row's error."""
    numbers, errors = (column or FileNumberColumn())(pa.array(raws, pa.string()))
    return [n if n is not None else f"invalid: {e}" for n, e in zip(numbers.to_pylist(), errors.to_pylist())]


def file_outcome(numbers: FileNumbers, raw: str) -> str:
    try:
        return numbers(raw)
    except ValueError as exc:
        return f"invalid: {exc}"


def test_r11_import_column_form_agrees_with_the_row_form_on_odd_common_and_foreign_input():
    raws = [*HOSTILE, *SAME_NUMBER, "", "+44 20 7946 0958", "+1 416 555 0143", "+442079460958", "+44 20 7946 0958"]
    assert file_outcomes(raws) == [file_outcome(FileNumbers(), raw) for raw in raws]


def test_r10_column_form_asks_phonenumbers_once_per_deciding_prefix(monkeypatch):
    calls = []
    real_parse = phonenumbers.parse

    def counting_parse(*args, **kwargs):
        calls.append(args[0])
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counting_parse)
    normalizer = UsNumberColumn()
    raws = [f"202{exchange}{line:04d}" for exchange in range(200, 1000) for line in (143, 9999)]
    first = column_outcomes(raws, normalizer)
    again = column_outcomes([f"(202) {raw[3:6]}-{raw[6:]}" for raw in raws], normalizer)
    assert len(set(first)) == 1600
    assert again == first
    assert len(calls) == 8  # 202-2…, …, 202-9…, once each across both batches


def test_r11_deciding_prefix_decides_the_verdict():
    lengths, _ = deciding_lengths()
    rng = random.Random(11)
    for area in range(200, 1000):
        code = str(area)
        size = lengths.get(code, 3)
        for _ in range(2):
            prefix = code + "".join(rng.choice("0123456789") for _ in range(size - 3))
            tails = ["".join(rng.choice("0123456789") for _ in range(10 - size)) for _ in range(3)]
            verdicts = {outcome(normalize_us, prefix + tail).startswith("+") for tail in tails}
            assert len(verdicts) == 1, f"{prefix}… is not decided by {size} digits"


def test_r11_a_shorter_prefix_would_not_decide():
    # 523-55x is split at the sixth digit (personal numbers), which is why the fast path reads six there.
    assert deciding_lengths()[0]["523"] == 6
    assert outcome(normalize_us, "5235500143") != outcome(normalize_us, "5235550143")


def test_r10_fast_path_asks_phonenumbers_once_per_deciding_prefix(monkeypatch):
    calls = 0
    real_parse = phonenumbers.parse

    def counting_parse(*args, **kwargs):
        nonlocal calls
        calls += 1
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counting_parse)
    normalizer = UsNormalizer()
    results = {normalizer(f"202{exchange}{line:04d}") for exchange in range(200, 1000) for line in (143, 9999)}
    assert len(results) == 1600
    assert calls == 8  # 202-2…, 202-3…, …, 202-9…: four digits decide a Washington DC number


def test_r12_mask_keeps_only_the_last_four_digits():
    assert mask("+12025550143") == "+1******0143"
    assert mask("(202) 555-0143") == "(***) ***-0143"
    assert mask("0143") == "0143"
    assert mask("no digits") == "no digits"


def test_r12_masked_display_keeps_the_area_code_and_last_four_and_stays_data_in_a_csv():
    assert masked_display("+12025550143") == "+1 (202) ***-0143"
    assert masked_display("+442079460958") == "+4* ** **** 0958"
    assert masked_display("not a number 12345") == "not a number *2345"
    assert escape_cell(masked_display("+12025550143")) == "+1 (202) ***-0143"
    # Only that exact shape is left as written; anything more is escaped like every other cell.
    assert escape_cell("+1 (202) ***-0143+cmd|' /C calc'!A0") == "'+1 (202) ***-0143+cmd|' /C calc'!A0"
    assert escape_cell("+4* ** **** 0958") == "'+4* ** **** 0958"


# --- One million random inputs ---

MILLION = 1_000_000
SLICES = 8
FILE_SAMPLE = 20_000  # of each slice, through the imports' column form too
SEPARATORS = (" ", "-", ".", "(", ")", "", "", "", "", "")
PREFIXES = ("", "", "", "1", "+1", "+1 ", "1-", "1 ", "+ 1", "(+1) ", "+", " ")
LAYOUTS = ("({}) {}-{}", "{}-{}-{}", "{}.{}.{}", "{} {} {}", "({}){}-{}", "{}{}{}")


def random_inputs(seed: int, count: int, area_codes: list[str]):
    """Cheap, seeded phone-ish strings: ten-digit numbers in many dresses, and 7-15 digit strings."""
    rng = random.Random(seed)
    pick, randrange, rand = rng.choice, rng.randrange, rng.random
    for _ in range(count):
        roll = rand()
        if roll < 0.75:
            # Half with an area code in use, so valid numbers are common enough to prove something.
            if roll < 0.375:
                national = f"{pick(area_codes)}{randrange(10_000_000):07d}"
            else:
                national = f"{randrange(10_000_000_000):010d}"
            dress = rand()
            if dress < 0.5:
                body = pick(LAYOUTS).format(national[:3], national[3:6], national[6:])
            elif dress < 0.8:
                body = national
            else:
                body = "".join(digit + pick(SEPARATORS) for digit in national)
            yield pick(PREFIXES) + body
        else:
            size = randrange(7, 16)
            yield pick(("", "+", "1", "+1")) + f"{randrange(10**size):0{size}d}"


def compare_slice(seed: int, count: int) -> tuple[int, int, list[tuple[str, ...]]]:
    """Run one seeded slice through the row and column fast paths and the authority; return (inputs, valid,
    first disagreements)."""
    # Keeps the authority's compiled patterns; the same patterns, only fewer trips through re's cache.
    phonenumbers.re_util.enable_pattern_cache()
    area_codes = [str(area) for area in range(200, 1000) if outcome(normalize_us, f"{area}5550143")[0] == "+"]
    fast = UsNormalizer()
    column = UsNumberColumn()
    seen = valid = 0
    disagreements = []
    raws = list(random_inputs(seed, count, area_codes))
    # The column form sees the same inputs in batches, as a report's blocks reach it.
    columns = [
        got for start in range(0, count, 10_000) for got in column_outcomes(raws[start : start + 10_000], column)
    ]
    # The imports' form (US path, then phonenumbers for the rest) on the first inputs: the authority is slow.
    file_column, file_numbers = FileNumberColumn(), FileNumbers()
    for start in range(0, FILE_SAMPLE, 10_000):
        part = raws[start : start + 10_000]
        for raw, got in zip(part, file_outcomes(part, file_column), strict=True):
            expected = file_outcome(file_numbers, raw)
            if got != expected and len(disagreements) < 10:
                disagreements.append((raw, expected, got))
    for raw, got_column in zip(raws, columns, strict=True):
        expected = outcome(normalize_us, raw)
        got = outcome(fast, raw)
        seen += 1
        valid += expected[0] == "+"
        if (got != expected or got_column != expected) and len(disagreements) < 10:
            disagreements.append((raw, expected, got, got_column))
    return seen, valid, disagreements


@pytest.mark.timeout(1200)  # a minute on an idle machine; much more when the cores are shared
def test_r11_fast_path_equals_phonenumbers_on_a_million_random_inputs():
    workers = min(SLICES, os.cpu_count() or 1)
    per_slice = MILLION // SLICES
    # The authority is ~60 µs a call; slices run on every core to keep this near half a minute.
    # Spawned, not forked: a fork of the test process would copy the locks of the threads other fixtures
    # leave running (live server, S3 proxy) and could hang for ever.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(compare_slice, range(2026, 2026 + SLICES), [per_slice] * SLICES))
    assert sum(seen for seen, _, _ in results) == MILLION
    assert [d for _, _, slice_disagreements in results for d in slice_disagreements] == []
    assert sum(valid for _, valid, _ in results) > MILLION // 4


@pytest.mark.parametrize(
    "value, moment, shown",
    [
        ("+12025550143", False, "+1******0143"),
        ("(202) 555-0143", False, "(***) ***-0143"),
        ("45678", False, "45678"),  # a short code cannot be a whole number
        ("Verizon", False, "Verizon"),
        ("2026-11-20T10:00:00Z", True, "2026-11-20T10:00:00Z"),
        ("2026-13-45", True, "2026-13-45"),
        ("11/20/2026", True, "11/20/2026"),
        ("+12025550143", True, "+1******0143"),  # a number in a date cell
        ("2026-11-20T10:00:00+12025550143", True, "****-**-**T**:**:**+1******0143"),
    ],
)
def test_r12_masked_hides_what_could_be_a_number_and_keeps_dates_and_codes(value, moment, shown):
    assert masked(value, moment=moment) == shown


def test_r12_masked_text_masks_every_number_in_free_text_and_keeps_dates():
    text = "Key (phone)=(+12025550143) exists; row 12 at 2026-11-20, also (202) 555-0144 and 202.555.0145"
    assert masked_text(text) == (
        "Key (phone)=(+1******0143) exists; row 12 at 2026-11-20, also (***) ***-0144 and ***.***.0145"
    )
