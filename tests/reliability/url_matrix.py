"""Who may open what (R12): every URL the resolver knows, tried as each role, as a matrix kept in
`url_matrix.json` and shown in docs/reliability.md.

The URLs come from the resolver itself — admin changelist, add, change, delete and history pages of every
registered model, every custom admin view, the API — so a page added tomorrow appears in the matrix, and the
test fails until its row is looked at and written. A URL argument the matrix has no sample for fails too.

    pytest tests/reliability/test_security_urls.py --write-url-matrix   # measure again, write JSON and docs
    python -m tests.reliability.url_matrix --render                     # docs table from the JSON alone
"""

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROLES = ["anonymous", "Viewer", "Operator", "Admin"]
HERE = Path(__file__).resolve().parent
MATRIX_FILE = HERE / "url_matrix.json"
DOC_FILE = HERE.parent.parent / "docs" / "reliability.md"
TABLE_START = "<!-- url-matrix: written by tests/reliability/url_matrix.py, do not edit by hand -->"
TABLE_END = "<!-- /url-matrix -->"
CATCH_ALL_SAMPLE = "no-such-page/"

Matrix = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Page:
    """One URL to try: the key it has in the matrix, the path requested, and the method."""

    key: str
    path: str
    method: str = "GET"


def routes() -> Iterator[tuple[str, str | None, list[str]]]:
    """(route as written, 'namespace:name' or None, its argument names) for every URL the resolver knows."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix: str, namespace: str | None, groups: list[str]):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            names = groups + list(pattern.pattern.regex.groupindex)
            if isinstance(pattern, URLResolver):
                inner = ":".join(filter(None, [namespace, pattern.namespace])) or None
                yield from walk(pattern.url_patterns, route, inner, names)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
                yield route, name, names

    yield from walk(get_resolver().url_patterns, "", None, [])


def pages(samples: dict[str, list[str]], object_ids: dict[str, str]) -> list[Page]:
    """Every URL with its arguments filled from samples; `object_ids` maps a route's prefix to an object's pk."""
    from django.urls import reverse

    found = []
    for route, name, args in routes():
        shown = "/" + route.replace("^", "").replace("$", "")
        if not args:
            path = reverse(name) if name else "/" + route
            found.append(Page(shown, path))
            continue
        if name is None or name.endswith(":None"):
            if args == ["url"]:  # the admin's catch-all: any unknown path under /admin/
                found.append(Page(shown, "/" + route.split("(?P<url>", 1)[0] + CATCH_ALL_SAMPLE))
            # Other unnamed routes with arguments are the admin's old `<id>/` redirect to `<id>/change/`.
            elif args == ["object_id"] and route.endswith("<path:object_id>/"):
                prefix = route.removesuffix("<path:object_id>/")
                found.append(Page(shown, "/" + prefix + object_ids.get(prefix, "0") + "/"))
            else:
                raise LookupError(f"cannot build the unnamed URL {route!r}; teach tests/reliability/url_matrix.py")
            continue
        prefix = route.split("<", 1)[0]
        choices = {}
        for arg in args:
            if arg == "object_id":
                choices[arg] = [object_ids.get(prefix, "0")]
            elif arg in samples:
                choices[arg] = samples[arg]
            else:
                raise LookupError(f"no sample value for argument {arg!r} of {route!r}: add one to SAMPLES")
        for filled in _combinations(choices):
            key = shown
            for arg, value in filled.items():
                if len(choices[arg]) > 1:  # one row per value: they are different pages (an app's index)
                    key = re.sub(rf"\(\?P<{arg}>[^)]*\)|<(?:\w+:)?{arg}>", value, key)
            found.append(Page(key, reverse(name, kwargs=filled)))
    return found


def _combinations(choices: dict[str, list[str]]) -> Iterator[dict[str, str]]:
    combos: list[dict[str, str]] = [{}]
    for arg, values in choices.items():
        combos = [{**combo, arg: value} for combo in combos for value in values]
    yield from combos


def outcome(response) -> str:
    """A status, and for a redirect where it goes: the URL's name when it has one, else its path."""
    from django.urls import Resolver404, resolve

    if response.status_code not in (301, 302, 303, 307, 308):
        return str(response.status_code)
    target = urlsplit(response["Location"]).path
    try:
        match = resolve(target)
    except Resolver404:
        return f"{response.status_code} → {target}"
    return f"{response.status_code} → {match.view_name}"


def load() -> Matrix:
    return json.loads(MATRIX_FILE.read_text())


def save(matrix: Matrix) -> None:
    MATRIX_FILE.write_text(json.dumps(dict(sorted(matrix.items())), indent=1, ensure_ascii=False) + "\n")
    write_table(matrix)


def table(matrix: Matrix) -> str:
    """The matrix as a Markdown table between its markers."""
    lines = [TABLE_START, "", "| URL | " + " | ".join(ROLES) + " |", "|---|" + "---|" * len(ROLES)]
    for key, row in sorted(matrix.items()):
        lines.append(f"| `{key}` | " + " | ".join(row.get(role, "") for role in ROLES) + " |")
    return "\n".join([*lines, "", TABLE_END])


def documented_table() -> str | None:
    """The table as docs/reliability.md has it now, or None without markers."""
    text = DOC_FILE.read_text()
    if TABLE_START not in text or TABLE_END not in text:
        return None
    start = text.index(TABLE_START)
    return text[start : text.index(TABLE_END, start) + len(TABLE_END)]


def write_table(matrix: Matrix) -> None:
    """Replace the table between its markers; the rest of the document is left as it is."""
    current = documented_table()
    if current is None:
        raise LookupError(f"{DOC_FILE} has no {TABLE_START!r} … {TABLE_END!r} markers for the table")
    DOC_FILE.write_text(DOC_FILE.read_text().replace(current, table(matrix)))


def differences(expected: Matrix, actual: Matrix) -> list[str]:
    """Each URL and role whose answer changed, and each URL that appeared or went away."""
    lines = []
    for key in sorted(expected.keys() | actual.keys()):
        if key not in actual:
            lines.append(f"{key}: gone")
        elif key not in expected:
            lines.append(f"{key}: new, answers {actual[key]}")
        else:
            for role in ROLES:
                if expected[key].get(role) != actual[key].get(role):
                    lines.append(f"{key} as {role}: expected {expected[key].get(role)}, got {actual[key].get(role)}")
    return lines


if __name__ == "__main__":
    if sys.argv[1:] != ["--render"]:
        sys.exit("usage: python -m tests.reliability.url_matrix --render   (measuring needs pytest: see above)")
    write_table(load())
    print(f"wrote the table of {len(load())} URLs into {DOC_FILE}")
