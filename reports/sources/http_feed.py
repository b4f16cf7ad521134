"""Any provider that serves a day's deactivations at a URL of that day (GovDelivery TMS and the like).

DEACT_HTTP_URL is a template with `{date}` (YYYY-MM-DD); DEACT_HTTP_HEADERS are `Name=value` pairs sent with
every request to that URL's origin (an API key): their values are secrets, never shown. The body is any file
the parser reads: one number a line, CSV, gzip, zip.
"""

import re
from datetime import date
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings

from reports import sources
from reports.sources import web

PLACEHOLDER = "{date}"
# RFC 9110's token: what a header name may be made of.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def parse_headers(text: str) -> dict[str, str]:
    """DEACT_HTTP_HEADERS as a dict; ValueError naming the bad pair by its position and name, never its value."""
    headers: dict[str, str] = {}
    for position, pair in enumerate((part for part in text.split(",") if part.strip()), start=1):
        name, equals, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not HEADER_NAME.fullmatch(name):
            raise ValueError(f"pair {position} of DEACT_HTTP_HEADERS is not Name=value")
        if any(char in value for char in "\r\n\0"):
            raise ValueError(f"the value of DEACT_HTTP_HEADERS' {name} holds a line break or NUL")
        headers[name] = value
    return headers


class HttpFeedSource(sources.DailyFileSource):
    name = "http"
    origin = "http"
    label = "the HTTP feed"

    def problems(self) -> list[str]:
        template = settings.DEACT_HTTP_URL
        problems = []
        if not template:
            problems.append("DEACT_HTTP_URL is not set")
        elif PLACEHOLDER not in template:
            problems.append("DEACT_HTTP_URL has no {date} in it")
        elif urlsplit(template).scheme not in ("http", "https"):
            problems.append("DEACT_HTTP_URL is not an http(s) URL")
        try:
            parse_headers(settings.DEACT_HTTP_HEADERS)
        except ValueError as exc:
            problems.append(str(exc))
        if settings.DEACT_HTTP_DAYS_KEPT < 1:
            problems.append("DEACT_HTTP_DAYS_KEPT is less than 1")
        return problems

    def days_kept(self) -> int:
        return settings.DEACT_HTTP_DAYS_KEPT

    def fingerprint(self, day: date) -> str:
        # The feed's host is part of the identity: another provider's file for the day is another report.
        return f"http:{urlsplit(settings.DEACT_HTTP_URL).hostname}:{day.isoformat()}"

    def location(self, day: date) -> str:
        # Query values are shown only where the template puts the date: any other may be a key.
        dated = [name for name, value in parse_qsl(urlsplit(settings.DEACT_HTTP_URL).query) if PLACEHOLDER in value]
        return web.shown_url(self._url(day), keep=dated)

    def open_day(self, day: date) -> web.Body:
        self.require_configured()
        headers = parse_headers(settings.DEACT_HTTP_HEADERS)
        answer = web.get(self._url(day), headers=headers, what="the HTTP feed", shown=self.location(day))
        error = web.refusal(answer, label="the HTTP feed", day=day, secrets=headers.values())
        if error is not None:
            raise error
        return web.body(answer, what=f"the HTTP feed's file for {day}")

    def _url(self, day: date) -> str:
        return settings.DEACT_HTTP_URL.replace(PLACEHOLDER, day.isoformat())


SOURCE = HttpFeedSource()
