"""Phone numbers in E.164 (R11): `phonenumbers` is the authority; `UsNormalizer` its fast twin for reports."""

import functools
import logging
import re
import re._constants as sre_constants
import re._parser as sre_parser
from collections.abc import Iterable

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, ValidationResult

logger = logging.getLogger(__name__)

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
_LENGTH_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "invalid country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too short",
    ValidationResult.INVALID_LENGTH: "wrong length",
    ValidationResult.TOO_LONG: "too long",
}


class InvalidNumber(ValueError):
    """A string that is not a valid phone number; str(exc) is a short reason for an operator."""


def normalize(raw: str, region: str = "US") -> str:
    """Return `raw` as E.164, read as dialled in `region`; raise InvalidNumber unless it is a valid number."""
    return _e164(_valid_number(raw, region))


def normalize_us(raw: str) -> str:
    """Like normalize(), but only US numbers pass: Canada and the Caribbean share +1 and do not."""
    number = _valid_number(raw, "US")
    if phonenumbers.region_code_for_number(number) != "US":
        raise InvalidNumber("not a US number")
    return _e164(number)


def _valid_number(raw: str, region: str) -> phonenumbers.PhoneNumber:
    """Parse `raw` and insist on a valid number, naming what is wrong otherwise."""
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException as exc:
        raise InvalidNumber(_PARSE_REASONS.get(exc.error_type, "not a phone number")) from None
    if number.extension:
        # An SMS destination has no extension; mapping "x12" onto the main line could opt out someone else.
        raise InvalidNumber("has an extension")
    if not phonenumbers.is_valid_number(number):
        reason = _LENGTH_REASONS.get(phonenumbers.is_possible_number_with_reason(number), "not a valid number")
        raise InvalidNumber(reason)
    return number


def _e164(number: phonenumbers.PhoneNumber) -> str:
    """The number as +<country code><national number>."""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class FileNumbers:
    """E.164 for each row of a file: the fast US path first, `phonenumbers` itself for anything else (R11)."""

    def __init__(self) -> None:
        self._us = UsNormalizer()

    def __call__(self, raw: str) -> str:
        if not raw:
            raise ValueError("phone is required")
        try:
            return self._us(raw)
        except InvalidNumber:
            pass
        try:
            return normalize(raw)
        except InvalidNumber as exc:
            raise ValueError(f"invalid phone number: {exc}") from None


def display(e164: str) -> str:
    """A stored number as people write it: (202) 555-0143 at home in +1, +44 20 7946 0958 abroad."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 1
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)


def mask(value: str) -> str:
    """Hide every digit but the last four, and the country code's first digit after the first '+' (R12)."""
    digits = sum(ch.isdigit() for ch in value)
    keep_from = digits - 4
    # Only the first '+' starts a country code: "+1…+4…" (two numbers run together) shows one digit, not two.
    country_digit = value.find("+") + 1 or -1
    seen = 0
    out = []
    for i, ch in enumerate(value):
        if ch.isdigit():
            out.append(ch if seen >= keep_from or i == country_digit else "*")
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


# An ISO 8601 date or timestamp: its digits are a moment, not a phone number.
_MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?", re.ASCII
)


# Fewer digits than this cannot be a whole phone number (a short code, a carrier code, a count).
_FEWEST_DIGITS = 7


def masked(value: str, *, moment: bool = False) -> str:
    """A value read from a file, fit for a message, a log line or a stored error (R12): masked as mask() does
    when it could hold a phone number — not when it has too few digits, nor when it is a date or timestamp
    (`moment`) that cannot hide one: at most 8 digits, or ISO 8601's shape."""
    digits = sum(ch.isdigit() for ch in value)
    if digits < _FEWEST_DIGITS or (moment and (digits <= 8 or _MOMENT.fullmatch(value.strip()))):
        return value
    return mask(value)


# Seven or more digits in a row, with the separators people write between them: anything that may be a phone number.
_NUMBER_RUN = re.compile(rf"\+?\d(?:[\s().-]{{0,2}}\d){{{_FEWEST_DIGITS - 1},}}")


def masked_text(text: str) -> str:
    """Free text (an unexpected error's message) with every run that may be a phone number masked (R12)."""
    return _NUMBER_RUN.sub(lambda run: run.group() if _MOMENT.fullmatch(run.group()) else mask(run.group()), text)


def masked_display(e164: str) -> str:
    """A number as people write it with its middle hidden, for pages and files shown outside the back office:
    +1 (202) ***-0143 at home, the international form with all but the last four digits hidden abroad (R12)."""
    if len(e164) == 12 and e164.startswith("+1") and e164[1:].isdigit():
        national = e164[2:]  # stored +1 numbers are validated E.164 (R11): no need to parse them again
        return f"+1 ({national[:3]}) ***-{national[-4:]}"
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return mask(e164)
    national = str(number.national_number)
    if number.country_code == 1 and len(national) == _NATIONAL_LENGTH:
        # The area code stays: it helps the owner recognise the number and is shared by millions of lines.
        return f"+1 ({national[:3]}) ***-{national[-4:]}"
    return mask(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


# --- The fast path ---
#
# phonenumbers costs tens of µs a number. Within +1, whether a 10-digit national number is valid, and for
# which region, is decided by a few leading digits (area code, first exchange digit, a few longer ranges).
# We read how many from the metadata's own regular expressions, then ask phonenumbers once per distinct
# deciding prefix and remember its verdict.

_DIGITS = frozenset("0123456789")
_NATIONAL_LENGTH = 10
# Every field phonenumbers consults when it types a number or picks its region (_number_type_helper).
_DESC_FIELDS = (
    "general_desc",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)
_MAX_BOXES = 200_000

Box = tuple[frozenset[str], ...]


class _Underivable(Exception):
    """The metadata uses a pattern this analysis does not understand."""


def _boxes(pattern: str) -> list[Box]:
    """The digit strings `pattern` matches, as a union of boxes: one set of allowed digits per position."""
    return _expand(sre_parser.parse(pattern))


def _expand(items: Iterable) -> list[Box]:
    """Expand a parsed regular expression into boxes; raise _Underivable on anything but digits."""
    c = sre_constants
    boxes: list[Box] = [()]
    for op, arg in items:
        if op is c.LITERAL:
            alternatives = [(frozenset(chr(arg)) & _DIGITS,)]
        elif op is c.IN:
            alternatives = [(_digit_set(arg),)]
        elif op is c.CATEGORY and arg is c.CATEGORY_DIGIT:
            alternatives = [(_DIGITS,)]
        elif op is c.SUBPATTERN:
            alternatives = _expand(arg[-1])
        elif op is c.BRANCH:
            alternatives = [box for branch in arg[1] for box in _expand(branch)]
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, body = arg
            if high > _NATIONAL_LENGTH:
                raise _Underivable(f"unbounded repeat in {op}")
            once = _expand(body)
            alternatives = []
            repeated: list[Box] = [()]
            for count in range(high + 1):
                if count >= low:
                    alternatives += repeated
                repeated = [a + b for a in repeated for b in once if len(a) + len(b) <= _NATIONAL_LENGTH]
        else:
            raise _Underivable(f"unsupported regex construct {op}")
        boxes = [a + b for a in boxes for b in alternatives if len(a) + len(b) <= _NATIONAL_LENGTH]
        if len(boxes) > _MAX_BOXES:
            raise _Underivable("pattern expands to too many boxes")
    return boxes


def _digit_set(members: list) -> frozenset[str]:
    """The ASCII digits a character class admits."""
    c = sre_constants
    chars: set[str] = set()
    for op, arg in members:
        if op is c.LITERAL:
            chars.add(chr(arg))
        elif op is c.RANGE:
            chars.update(chr(code) for code in range(arg[0], min(arg[1], 0x7F) + 1))
        elif op is c.CATEGORY and arg is c.CATEGORY_DIGIT:
            chars |= _DIGITS
        else:
            raise _Underivable(f"unsupported class member {op}")
    return frozenset(chars) & _DIGITS


def _deciding_length(box: Box) -> int:
    """How many leading digits decide whether a number is in `box`: up to its last position not \\d."""
    return max((i + 1 for i, allowed in enumerate(box) if allowed != _DIGITS), default=0)


def _nanp_boxes() -> Iterable[tuple[str, Box]]:
    """Every box of every +1 region's patterns and leading digits, tagged with its region."""
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        metadata = PhoneMetadata.metadata_for_region(region)
        patterns = [getattr(metadata, name) for name in _DESC_FIELDS]
        for desc in patterns:
            if desc is not None and desc.national_number_pattern:
                for box in _boxes(desc.national_number_pattern):
                    if len(box) == _NATIONAL_LENGTH:
                        yield region, box
        if metadata.leading_digits:
            # Region choice matches these at the start of the number (re.match), so they are prefix boxes.
            for box in _boxes(metadata.leading_digits):
                yield region, box


@functools.cache
def deciding_lengths() -> tuple[dict[str, int], int]:
    """Per area code, how many leading digits decide a +1 number's verdict; and the most US validity needs."""
    lengths: dict[str, int] = {}
    us_max = 0
    for region, box in _nanp_boxes():
        length = _deciding_length(box)
        if region == "US":
            us_max = max(us_max, length)
        if length <= 3:
            continue  # every area code is decided by at least its own three digits
        for a in box[0]:
            for b in box[1]:
                for c in box[2]:
                    code = a + b + c
                    lengths[code] = max(lengths.get(code, 3), length)
    return lengths, us_max


def area_code_lengths() -> dict[str, int]:
    """deciding_lengths() for every area code, or the whole national number if the metadata defeats us."""
    try:
        lengths, _ = deciding_lengths()
    except (_Underivable, RecursionError) as exc:
        # Still exact, only slower: each distinct number goes to phonenumbers.
        logger.warning("phones.fast_path=off reason=%r", str(exc))
        lengths, default = {}, _NATIONAL_LENGTH
    else:
        default = 3
    return {f"{code:03d}": lengths.get(f"{code:03d}", default) for code in range(1000)}


_FORMATTING = str.maketrans("", "", " -.()")
_UNSEEN = object()
# Longer than any formatted +1 number; the authority refuses what is very long before reading it.
_SIMPLE_MAX_CHARS = 40


class UsNormalizer:
    """normalize_us() for millions of report rows: same answers, one phonenumbers call per deciding prefix."""

    def __init__(self) -> None:
        self._lengths = area_code_lengths()
        # deciding prefix -> None (valid) or the InvalidNumber reason; as many as the metadata has prefixes
        self._verdicts: dict[str, str | None] = {}

    def __call__(self, raw: str) -> str:
        """Return the US number in `raw` as E.164; raise InvalidNumber like normalize_us() would."""
        if len(raw) > _SIMPLE_MAX_CHARS:
            return normalize_us(raw)
        if raw.isascii() and raw.isdecimal():
            digits, plus = raw, False
        elif raw[:1] == "+" and raw.isascii() and raw[1:].isdecimal():
            digits, plus = raw[1:], True
        else:
            digits = raw.translate(_FORMATTING)
            plus = digits[:1] == "+"
            if plus:
                digits = digits[1:]
            # Unicode digits, letters and inner '+' signs leave the simple shape; the authority reads those.
            if not (digits.isascii() and digits.isdecimal()):
                return normalize_us(raw)
        size = len(digits)
        if size == 11 and digits[0] == "1":
            national = digits[1:]
        elif size == 10 and not plus:  # "+" and ten digits names another country code
            national = digits
        else:
            return normalize_us(raw)
        if national[0] < "2":
            return normalize_us(raw)
        key = national[: self._lengths[national[:3]]]
        verdict = self._verdicts.get(key, _UNSEEN)
        if verdict is _UNSEEN:
            verdict = self._verdicts[key] = verdict_us(raw)
        if verdict is None:
            return "+1" + national
        raise InvalidNumber(verdict)


def verdict_us(raw: str) -> str | None:
    """normalize_us()'s verdict on one number: None when valid, else its reason."""
    try:
        normalize_us(raw)
    except InvalidNumber as exc:
        return str(exc)
    return None
