"""`UsNormalizer` for a whole column of numbers at once (R10, R11): the same answers, no Python per row.

A file's numbers arrive as an Arrow string column. The simple shapes (digits with the usual punctuation, an
optional "+" and leading 1) are stripped, checked and keyed by their deciding prefix with Arrow's compute
kernels; each prefix's verdict comes from a table that `phonenumbers` fills once per prefix, exactly as the
row-by-row fast path asks it. Whatever is not of a simple shape goes to `phonenumbers` itself, once per
distinct value in the batch.
"""

import pyarrow as pa
import pyarrow.compute as pc

from contacts.phones import FileNumbers, InvalidNumber, area_code_lengths, normalize_us, verdict_us

# Arrow's default allocator (mimalloc) keeps freed blocks around: ~25 MB more peak memory on a 1M-row report
# than the system allocator, at no measurable speed. Every columnar intake imports this module.
pa.set_memory_pool(pa.system_memory_pool())

_SIMPLE_MAX_CHARS = 40  # as UsNormalizer: longer input goes to the authority
_FORMATTING = r"[ \-.()]"  # the characters UsNormalizer drops before it looks at the digits


class UsNumberColumn:
    """normalize_us() over an Arrow column: (E.164 or null, reason or null) for each value."""

    def __init__(self) -> None:
        lengths = area_code_lengths()
        self._lengths = pa.array([lengths[f"{code:03d}"] for code in range(1000)], pa.int8())
        self._distinct_lengths = sorted(set(lengths.values()) - {3})
        # deciding prefix -> None (valid) or the reason; grows to at most the metadata's prefixes
        self._keys: list[str] = []
        self._reasons: list[str | None] = []
        self._key_set = pa.array([], pa.string())
        self._verdicts = pa.array([], pa.string())

    def __call__(self, raw: pa.Array) -> tuple[pa.Array, pa.Array]:
        """Each value of `raw` as E.164 (null when invalid) and why not (null when valid)."""
        raw = pc.fill_null(raw.cast(pa.string()), "")
        digits, fast = self._simple(raw)
        e164 = pa.nulls(len(raw), pa.string())
        reasons = pa.nulls(len(raw), pa.string())
        if pc.any(fast).as_py():
            national = pc.filter(digits, fast)
            national = pc.if_else(pc.equal(pc.binary_length(national), 11), pc.utf8_slice_codeunits(national, 1),
                                  national)  # fmt: skip
            verdicts = self._verdicts_for(national)
            valid = pc.binary_join_element_wise("+1", national, "")
            valid = pc.if_else(pc.is_null(verdicts), valid, pa.scalar(None, pa.string()))
            e164 = pc.replace_with_mask(e164, fast, valid)
            reasons = pc.replace_with_mask(reasons, fast, verdicts)
        slow = pc.invert(fast)
        if pc.any(slow).as_py():
            numbers, why = _by_authority(pc.filter(raw, slow))
            e164 = pc.replace_with_mask(e164, slow, numbers)
            reasons = pc.replace_with_mask(reasons, slow, why)
        return e164, reasons

    def _simple(self, raw: pa.Array) -> tuple[pa.Array, pa.Array]:
        """The digits of each value, and whether the value is of a shape the verdict table decides."""
        stripped = pc.replace_substring_regex(raw, _FORMATTING, "")
        plus = pc.starts_with(stripped, "+")
        digits = pc.if_else(plus, pc.utf8_slice_codeunits(stripped, 1), stripped)
        size = pc.binary_length(digits)
        eleven = pc.and_(pc.equal(size, 11), pc.starts_with(digits, "1"))
        ten = pc.and_(pc.equal(size, 10), pc.invert(plus))  # "+" and ten digits names another country code
        national_start = pc.if_else(
            eleven, pc.utf8_slice_codeunits(digits, 1, 2), pc.utf8_slice_codeunits(digits, 0, 1)
        )
        fast = pc.and_(
            pc.and_(pc.match_substring_regex(digits, r"^[0-9]+$"), pc.or_(eleven, ten)),
            pc.and_(pc.greater_equal(national_start, "2"), pc.less_equal(pc.utf8_length(raw), _SIMPLE_MAX_CHARS)),
        )
        return digits, pc.fill_null(fast, False)

    def _verdicts_for(self, national: pa.Array) -> pa.Array:
        """Each ten-digit national number's verdict: null when valid, else the reason."""
        width = pc.take(self._lengths, pc.cast(pc.utf8_slice_codeunits(national, 0, 3), pa.int16()))
        key = pc.utf8_slice_codeunits(national, 0, 3)
        for length in self._distinct_lengths:
            key = pc.if_else(pc.equal(width, length), pc.utf8_slice_codeunits(national, 0, length), key)
        known = pc.index_in(key, value_set=self._key_set)
        unseen = pc.is_null(known)
        if pc.any(unseen).as_py():
            self._learn(pa.table({"key": pc.filter(key, unseen), "national": pc.filter(national, unseen)}))
            known = pc.index_in(key, value_set=self._key_set)
        return pc.take(self._verdicts, known)

    def _learn(self, unseen: pa.Table) -> None:
        """Ask phonenumbers once for each new deciding prefix, about one number that has it."""
        examples = unseen.group_by("key").aggregate([("national", "min")])
        for key, national in zip(examples["key"].to_pylist(), examples["national_min"].to_pylist(), strict=True):
            self._keys.append(key)
            self._reasons.append(verdict_us("+1" + national))
        self._key_set = pa.array(self._keys, pa.string())
        self._verdicts = pa.array(self._reasons, pa.string())


def _by_authority(raw: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The odd shapes (letters, other scripts, wrong lengths): phonenumbers once per distinct value."""
    distinct = pc.unique(raw)
    numbers: list[str | None] = []
    reasons: list[str | None] = []
    for value in distinct.to_pylist():
        try:
            numbers.append(normalize_us(value))
            reasons.append(None)
        except InvalidNumber as exc:
            numbers.append(None)
            reasons.append(str(exc))
    at = pc.index_in(raw, value_set=distinct)
    return pc.take(pa.array(numbers, pa.string()), at), pc.take(pa.array(reasons, pa.string()), at)


class FileNumberColumn:
    """phones.FileNumbers over an Arrow column: (E.164 or null, the row's error or null) for each value. US
    numbers take UsNumberColumn's path; what it refuses goes to `phonenumbers` once per distinct value."""

    def __init__(self) -> None:
        self._us = UsNumberColumn()
        self._file = FileNumbers()

    def __call__(self, raw: pa.Array) -> tuple[pa.Array, pa.Array]:
        e164, _ = self._us(raw)
        rest = pc.is_null(e164)
        if not pc.any(rest).as_py():
            return e164, pa.nulls(len(raw), pa.string())
        distinct = pc.unique(pc.filter(raw, rest))
        numbers: list[str | None] = []
        errors: list[str | None] = []
        for value in distinct.to_pylist():
            number, error = _file_number(self._file, value)
            numbers.append(number)
            errors.append(error)
        at = pc.index_in(raw, value_set=distinct)
        e164 = pc.coalesce(e164, pc.take(pa.array(numbers, pa.string()), at))
        return e164, pc.if_else(rest, pc.take(pa.array(errors, pa.string()), at), pa.scalar(None, pa.string()))


def _file_number(numbers: FileNumbers, value: str) -> tuple[str | None, str | None]:
    try:
        return numbers(value), None
    except ValueError as exc:
        return None, str(exc)
