"""Where a deactivation report comes from: one small interface, one implementation per provider (issue 18).

A source finds a report file and opens its bytes; everything after that — parsing, staging, the rules, the
guard (R14), the ledger — is the same pipeline for every source (reports.services). `aws` reads AWS End User
Messaging's requester-pays bucket (reports.s3); `twilio` and `http` fetch one file a day over HTTP.

The errors below are what every source raises, so callers (tasks, the command, the backfill) handle one set.
Implementations are imported when first asked for: reports.s3 imports this module for its errors.
"""

import importlib
import io
from datetime import date
from typing import BinaryIO, ClassVar

from django.conf import settings

NAMES = ("aws", "twilio", "http")  # DESIGN.md's report sources, uploads aside
_MODULES = {"aws": "reports.sources.aws", "twilio": "reports.sources.twilio", "http": "reports.sources.http_feed"}


class NotPublished(Exception):
    """The report is not there (yet): retry later."""


class NotReady(NotPublished):
    """A day the provider has not published yet (404, or its own 'not ready'): the report waits, retried later."""


class AccessDenied(Exception):
    """The provider refused our credentials or policy: retrying will not help (one request, no retry)."""


class Unavailable(Exception):
    """The provider kept failing (5xx, resets, timeouts) through our bounded retries: retry later."""


class Refused(Exception):
    """The provider's answer cannot be applied (a date out of range, a signed URL that keeps failing, a body
    over the size limit, more bytes than listed): the report fails, nothing is applied."""


class NotConfigured(Exception):
    """The source lacks its settings (a URL, credentials): nothing was asked of anyone."""


class BoundedReader(io.RawIOBase):
    """A read-only binary file over a streamed body that counts the bytes handed out and refuses to hand out
    more than `limit`: a longer body fails whole, never silently truncated. Subclasses read and name the error."""

    def __init__(self, *, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self.bytes_read = 0

    def readable(self) -> bool:
        """Always true: this is a reader."""
        return True

    def readinto(self, buffer) -> int:
        """Fill `buffer` with up to its length of bytes from the body; 0 at the end."""
        view = memoryview(buffer).cast("B")
        # One byte past the limit at most: enough to know the body is longer than allowed.
        data = self._read(min(len(view), self._limit + 1 - self.bytes_read))
        count = len(data)
        if self.bytes_read + count > self._limit:
            raise self._too_long()
        view[:count] = data
        self.bytes_read += count
        return count

    def _read(self, size: int) -> bytes:
        raise NotImplementedError

    def _too_long(self) -> Exception:
        raise NotImplementedError


class ReportSource:
    """One provider of deactivation reports."""

    name: ClassVar[str]  # the vocabulary value: aws, twilio, http
    origin: ClassVar[str]  # DeactivationReport.origin of its reports
    label: ClassVar[str]  # how messages name it

    def problems(self) -> list[str]:
        """What is missing or malformed in this source's settings; empty when it can run. Never quotes a secret."""
        return []

    def require_configured(self) -> None:
        problems = self.problems()
        if problems:
            raise NotConfigured(f"the {self.name} source is not configured: {'; '.join(problems)}")

    def open_report(self, report) -> BinaryIO:
        """The report's bytes as a binary stream (a context manager), streamed, never held whole."""
        raise NotImplementedError


class DailyFileSource(ReportSource):
    """A provider that serves one file per day at a URL of that day: a report is (source, day) (R6)."""

    first_day: ClassVar[date | None] = None  # the provider has no data before this day

    def days_kept(self) -> int:
        """How far back a backfill asks."""
        raise NotImplementedError

    def fingerprint(self, day: date) -> str:
        """The report's identity: this source and this day, so asking again is the same report (R6)."""
        raise NotImplementedError

    def location(self, day: date) -> str:
        """The day's URL as the report row shows it: no credentials, no signature (issue 18)."""
        raise NotImplementedError

    def open_day(self, day: date) -> BinaryIO:
        raise NotImplementedError

    def open_report(self, report) -> BinaryIO:
        return self.open_day(report.report_date)

    def latest_day(self, today: date) -> date:
        # A day is published the next day: the newest complete file is yesterday's.
        return date.fromordinal(today.toordinal() - 1)

    def backfill_days(self, today: date) -> list[date]:
        """Every day a backfill asks for, oldest first: the days kept, never before the provider's first."""
        latest = self.latest_day(today).toordinal()
        first = latest - self.days_kept() + 1
        if self.first_day is not None:
            first = max(first, self.first_day.toordinal())
        return [date.fromordinal(ordinal) for ordinal in range(first, latest + 1)]


def get(name: str) -> ReportSource:
    """The source of that name; ValueError for a name that is none."""
    if name not in _MODULES:
        raise ValueError(f"no deactivation report source {name!r} (one of {', '.join(NAMES)})")
    return importlib.import_module(_MODULES[name]).SOURCE


def for_origin(origin: str) -> ReportSource:
    """The source whose reports carry this origin."""
    for name in NAMES:
        source = get(name)
        if source.origin == origin:
            return source
    raise ValueError(f"no deactivation report source for origin {origin!r}")


def enabled() -> list[str]:
    """DEACT_SOURCES: the sources whose schedules run (any configured source also runs on demand)."""
    return [name for name in NAMES if name in settings.DEACT_SOURCES]
