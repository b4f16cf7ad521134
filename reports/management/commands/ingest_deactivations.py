import time
from argparse import ArgumentTypeError
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from contacts import guard
from reports import fetching, services, sources
from reports.models import DeactivationReport

# Whatever a source says when nothing could be read: the command's error line names it (issue 18).
SOURCE_ERRORS = (sources.NotPublished, sources.AccessDenied, sources.Unavailable, sources.NotConfigured)
BAR_WIDTH = 30
# Off a terminal (cron, CI, a log file) one progress line this often is plenty.
LOG_EVERY_SECONDS = 10.0


def report_day(text: str) -> date:
    """An argparse type: a calendar day as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


class Command(BaseCommand):
    progress: "ProgressDisplay | None" = None
    help = (
        "Apply carrier deactivation reports from a source (aws, twilio, http): the latest, one day's, or every one "
        "the source keeps; or a file from any provider. Each is applied at most once (R6), all or nothing (R9)."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--latest",
            action="store_true",
            help="aws: today's latest-deact-report.csv (never falls back to a dated one); twilio, http: yesterday's",
        )
        which.add_argument(
            "--date", dest="day", type=report_day, metavar="YYYY-MM-DD", help="the source's report of that day"
        )
        which.add_argument(
            "--backfill",
            action="store_true",
            help="every report the source keeps not applied yet (aws, twilio: 90 days; http: DEACT_HTTP_DAYS_KEPT)",
        )
        which.add_argument("--file", metavar="PATH", help="a report file: CSV, one number a line, gzip or zip")
        parser.add_argument(
            "--report-date", type=report_day, metavar="YYYY-MM-DD", help="with --file: the day of rows without a date"
        )
        parser.add_argument(
            "--source", choices=sources.NAMES, help="where --latest, --date and --backfill fetch from (default aws)"
        )

    def handle(self, *args, latest, day, backfill, file, report_date, source, **options):
        if report_date is not None and file is None:
            raise CommandError("--report-date goes with --file (a source's reports are dated by the source)")
        if source is not None and file is not None:
            raise CommandError("--source goes with --latest, --date or --backfill; a --file comes from no source")
        source = source or "aws"
        if backfill:
            self.backfill(source)
            return
        try:
            if file is not None:
                result = self.ingest_file(Path(file), report_date)
            elif day is not None:
                result = fetching.fetch_dated(source, day, progress_for=self.progress_for)
            else:
                result = fetching.fetch_latest(source, progress_for=self.progress_for)
        except services.ReportFailed as exc:
            self.end_progress()
            exc.report.refresh_from_db()
            self.stdout.write(summary(exc.report, "failed"))
            raise CommandError(f"report {exc.report.pk} failed: {exc}") from None
        except SOURCE_ERRORS as exc:
            raise CommandError(f"{exc}; nothing was applied") from None
        finally:
            self.end_progress()
        result.report.refresh_from_db()  # another worker's row may have moved on meanwhile
        self.stdout.write(summary(result.report, result.message))
        if result.report.status == DeactivationReport.Status.HELD:
            raise held_error([result.report])

    def ingest_file(self, path: Path, report_date: date | None) -> services.IngestResult:
        """Store the file as an uploaded report and apply it: the admin's upload pipeline."""
        try:
            with path.open("rb") as stream:
                report = services.report_for_upload(stream, file_name=path.name, report_date=report_date)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
        return services.ingest(report, progress=self.progress_for(report))

    def backfill(self, source: str) -> None:
        """One line per report the source keeps, oldest first, then the totals."""
        results = []
        try:
            for result in fetching.backfill(source, progress_for=self.progress_for):
                self.end_progress()
                self.stdout.write(summary(result.report, _outcome(result)))
                results.append(result)
        except SOURCE_ERRORS as exc:
            if results:  # what was done before the source stopped answering
                self.stdout.write(backfill_total(results))
            raise CommandError(f"{exc}; nothing more was applied") from None
        finally:
            self.end_progress()
        self.stdout.write(backfill_total(results))
        failed = sum(result.report.status == DeactivationReport.Status.FAILED for result in results)
        if failed:
            raise CommandError(f"{failed} of {len(results)} reports failed; each report's row says why")
        held = [result.report for result in results if result.report.status == DeactivationReport.Status.HELD]
        if held:
            raise held_error(held)

    def progress_for(self, report: DeactivationReport) -> "ProgressDisplay":
        self.progress = ProgressDisplay(self.stderr, report)
        return self.progress

    def end_progress(self) -> None:
        if self.progress is not None:
            self.progress.end()
            self.progress = None


class ProgressDisplay:
    """How far a report's ingest has read: a bar on a terminal, a plain line now and then elsewhere."""

    def __init__(self, out: OutputWrapper, report: DeactivationReport, clock: Callable[[], float] = time.monotonic):
        self.out = out
        self.report = report
        self.total = report.size or 0
        self.terminal = out.isatty()
        self.clock = clock
        self.logged_at: float | None = None
        self.drawn = False
        self.width = 0

    def __call__(self, rows: int, bytes_read: int, read_all: bool) -> None:
        if self.terminal:
            self._draw(rows, bytes_read, read_all)
            return
        now = self.clock()
        if read_all or self.logged_at is None or now - self.logged_at >= LOG_EVERY_SECONDS:
            self.logged_at = now
            step = "applying" if read_all else "reading"
            self.out.write(
                f"report={self.report.pk} {step} rows={rows} bytes={bytes_read}/{self.total} "
                f"({self._percent(bytes_read)}%)",
                style_func=_plain,
            )

    def end(self) -> None:
        """Finish the bar's line, so what follows starts on a line of its own."""
        if self.drawn:
            self.out.write("", style_func=_plain)
            self.drawn = False

    def _draw(self, rows: int, bytes_read: int, read_all: bool) -> None:
        percent = self._percent(bytes_read)
        filled = BAR_WIDTH * percent // 100
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        # The apply step runs in the database after the last row is read, and reports no progress of its own.
        step = "applying..." if read_all else ""
        line = f"report {self.report.pk} [{bar}] {percent:3d}% {rows:,} rows {_megabytes(bytes_read)} {step}"
        # Padded to the longest line so far: "\r" moves back but leaves a longer line's tail on screen.
        self.width = max(self.width, len(line))
        self.out.write("\r" + line.ljust(self.width), style_func=_plain, ending="")
        self.out.flush()
        self.drawn = True

    def _percent(self, bytes_read: int) -> int:
        return min(100, 100 * bytes_read // self.total) if self.total else 0


def held_error(reports: list[DeactivationReport]) -> CommandError:
    """Exit 3: held by the mass opt-out guard (R14); an Admin decides."""
    ids = " ".join(str(report.pk) for report in reports)
    return CommandError(
        f"held by the mass opt-out guard (R14); nothing applied. An Admin runs release_report ID [--discard] "
        f"for: {ids}",
        returncode=3,
    )


def summary(report: DeactivationReport, outcome: str) -> str:
    """The command's one line about a report: what happened, then its counts as key=value."""
    day = report.report_date.isoformat() if report.report_date else "-"
    counts = " ".join(f"{name}={value}" for name, value in report.counts().items())
    if report.status == DeactivationReport.Status.HELD:
        # What the guard saw, per list: the numbers an Admin weighs before releasing it.
        counts = guard.held_fields(report.held_lists)
    seconds = f" seconds={report.duration.total_seconds():.1f}" if report.duration else ""
    return (
        f"{outcome}: report={report.pk} date={day} status={report.status} {counts} "
        f"bytes_read={report.bytes_read}{seconds}"
    )


def backfill_total(results: Iterable[services.IngestResult]) -> str:
    """The backfill's last line: how many reports went which way, and what the applied ones did."""
    results = list(results)
    applied = [result for result in results if result.applied]
    failed = sum(result.report.status == DeactivationReport.Status.FAILED for result in results)
    already = sum(result.message == services.ALREADY_APPLIED for result in results)
    held = sum(result.report.status == DeactivationReport.Status.HELD for result in results)
    # A day its source has not published yet waits (pending); the schedule asks again.
    not_ready = sum(result.report.status == DeactivationReport.Status.PENDING for result in results)
    busy = len(results) - len(applied) - failed - already - held - not_ready
    totals = {name: sum(result.counts()[name] for result in applied) for name in ("rows", "opted_out", "stale")}
    return (
        f"backfill: reports={len(results)} applied={len(applied)} already_applied={already} failed={failed} "
        + (f"held={held} " if held else "")
        + (f"not_ready={not_ready} " if not_ready else "")
        + f"in_progress_elsewhere={busy} "
        + " ".join(f"{name}={value}" for name, value in totals.items())
    )


def _outcome(result: services.IngestResult) -> str:
    if result.report.status == DeactivationReport.Status.FAILED:
        return f"failed ({result.message})"
    if result.report.status == DeactivationReport.Status.PENDING:
        return result.message.split(" (", 1)[0]  # "not ready: … has not published D yet"; the row has the rest
    return result.message


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


def _plain(text: str) -> str:
    # Django paints everything on a terminal's stderr as an error; progress is not one.
    return text
