"""Finding full phone numbers in text a test captured: log lines, stored errors, row reasons (R12)."""

import re

# Phone-shaped text: +E.164, or ten or eleven digits in a row (separators allowed between groups).
E164 = re.compile(r"\+\d{8,15}")
DIGIT_RUN = re.compile(r"(?<![\d.])(?:1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?![\d])")


def leaks(text: str, numbers: list[str]) -> list[str]:
    """Every full number in `text`: by shape, and each known number however it is punctuated."""
    found = E164.findall(text) + DIGIT_RUN.findall(text)
    digits_only = re.sub(r"[\s().-]", "", text)
    found += [number for number in numbers if number[2:] in digits_only]
    return found
