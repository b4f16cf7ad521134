"""Deactivation reports: fetch, stream, stage and apply — once per file (R6), all or nothing (R9).

The file streams from S3 (or an upload) through the parser straight into a staging table
(`COPY` on PostgreSQL), and the domain's set-based rules apply the whole batch in the same
transaction that holds the report's row lock. A second worker on the same report skips it.
"""

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import BinaryIO

import pyarrow as pa

from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from contacts import ledger
from contacts.guard import Held
from contacts.models import Reason, Source
from contacts.phones import masked_text
from contacts.read_ahead import read_ahead
from contacts.services import Action, apply_staged_signals
from contacts.signal_staging import SignalBatch
from reports import lifecycle, s3, sources
from reports.models import DeactivationReport
from reports.parsing import NotAReport, ParseStats, ReportBatch, report_batches

log = logging.getLogger(__name__)

BACKFILL_DAYS = 90  # AWS keeps the last 90 days of dated reports
# Often enough for a smooth progress bar on a daily file (~100k rows), rare enough to cost nothing.
PROGRESS_EVERY = 10_000

APPLIED = "applied"
ALREADY_APPLIED = "already applied; nothing changed"
BUSY = "another worker is applying this report; nothing changed here"
HELD = "held"

# (valid rows so far, bytes read so far, whether the whole file is read and the database now applies it)
Progress = Callable[[int, int, bool], None]
ProgressFor = Callable[[DeactivationReport], Progress | None]  # a report's progress callback, once it is known


class ReportFailed(Exception):
    """The report could not be applied; its row says why and nothing changed (R8, R9)."""

    def __init__(self, message: str, *, report: DeactivationReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class IngestResult:
    report: DeactivationReport
    applied: bool  # False: already applied, another worker holds it, or it failed
    message: str

    def counts(self) -> dict[str, int]:
        return self.report.counts()


def report_for_object(obj: s3.ReportObject) -> DeactivationReport:
    """The report row for an S3 object; the same bytes under two keys are one report (R6)."""
    # A placeholder left while the key was not yet published gives way to the real file.
    DeactivationReport.objects.filter(bucket=obj.bucket, key=obj.key, etag="").delete()
    report, _ = DeactivationReport.objects.get_or_create(
        fingerprint=f"s3:{obj.bucket}:{obj.etag}",
        defaults={
            "origin": DeactivationReport.Origin.S3, "bucket": obj.bucket, "key": obj.key, "etag": obj.etag,
            "report_date": obj.report_date, "size": obj.size,
        },
    )  # fmt: skip
    return report


def note_unpublished(key: str, report_date: date | None, error: str) -> DeactivationReport:
    """Keep a visible row for a report that is not in the bucket yet."""
    return _note_unread(key, report_date, error, DeactivationReport.Status.PENDING)


def note_denied(key: str, report_date: date | None, error: str) -> DeactivationReport:
    """Keep a failed row for a report S3 would not let us see (credentials, policy, requester pays)."""
    return _note_unread(key, report_date, error, DeactivationReport.Status.FAILED)


def _note_unread(key: str, report_date: date | None, error: str, status: str) -> DeactivationReport:
    """One placeholder row per key, until the object can be read and gets a row of its own."""
    now = timezone.now()
    report, _ = DeactivationReport.objects.update_or_create(
        fingerprint=_placeholder_fingerprint(key),
        defaults={
            "origin": DeactivationReport.Origin.S3, "bucket": s3.bucket_name(), "key": key,
            "report_date": report_date, "status": status, "error": f"{error} (checked {now:%Y-%m-%d %H:%M} UTC)",
            "finished_at": now if status == DeactivationReport.Status.FAILED else None,
        },
    )  # fmt: skip
    return report


def _placeholder_fingerprint(key: str) -> str:
    return f"s3:{s3.bucket_name()}:{key}:unpublished"


def report_for_upload(stream: BinaryIO, *, file_name: str, report_date: date | None) -> DeactivationReport:
    """Store an uploaded report file; the same content uploaded twice is one report (R6)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    fingerprint = f"sha256:{digest.hexdigest()}"
    existing = DeactivationReport.objects.filter(fingerprint=fingerprint).first()
    if existing is not None:
        if existing.status == DeactivationReport.Status.SUCCEEDED:
            return existing
        if report_date and existing.report_date != report_date:
            # A retry of a file that failed for want of a date (or had a wrong one) uses the date given now.
            existing.report_date = report_date
            existing.save(update_fields=["report_date"])
        if existing.file_removed_at:
            # Retention deleted the file of a report never applied: this upload brings it back for the retry.
            existing.file.save(file_name[-100:] or "report.csv", File(stream), save=False)
            existing.file_removed_at = None
            existing.save(update_fields=["file", "file_removed_at"])
        return existing
    report = DeactivationReport(origin=DeactivationReport.Origin.UPLOAD, fingerprint=fingerprint,
                                file_name=file_name[:255], report_date=report_date, size=size)  # fmt: skip
    # The file is stored before the row exists, so no worker ever finds a row without its file.
    report.file.save(file_name[-100:] or "report.csv", File(stream), save=False)
    try:
        with transaction.atomic():
            report.save()
    except IntegrityError:
        # The same content was stored by someone else meanwhile: theirs is the report (R6).
        report.file.delete(save=False)
        return DeactivationReport.objects.get(fingerprint=fingerprint)
    return report


def ingest(report: DeactivationReport, *, progress: Progress | None = None, today: date | None = None) -> IngestResult:
    """Apply one report at most once; a failure leaves the database as it was and says why."""
    today = today or timezone.now().date()
    skipped = _start(report)
    if skipped is not None:
        return skipped
    try:
        # Staging COPYs through the driver's own cursor: its errors are made Django's here, so a dropped
        # connection is an OperationalError (which the tasks retry) and is known to be unusable.
        with transaction.atomic(), connection.wrap_database_errors:
            # Held until commit: a second worker skips the row instead of waiting for it (R6).
            locked = DeactivationReport.objects.select_for_update(skip_locked=True).filter(pk=report.pk).first()
            if locked is None:
                return IngestResult(report, False, BUSY)
            if locked.status == DeactivationReport.Status.SUCCEEDED:
                return IngestResult(locked, False, ALREADY_APPLIED)
            # Issue 16: released by an Admin → no guard (R14); on SQLite a heartbeat shows the worker is alive.
            with lifecycle.applying(locked):
                _apply(locked, progress, today)
    except Held as exc:
        return IngestResult(lifecycle.mark_held(report, exc), False, HELD)
    except sources.NotReady as exc:
        lifecycle.waiting(report, str(exc))  # an HTTP source's day not published yet: it waits, retried later
        raise
    except (NotAReport, sources.AccessDenied, sources.Refused, sources.NotConfigured) as exc:
        _mark_failed(report, str(exc))
        raise ReportFailed(str(exc), report=report) from exc
    except sources.NotPublished as exc:
        # Replaced or removed since it was resolved: left to the caller, which may resolve it again.
        _mark_failed(report, str(exc))
        raise
    except (Exception, KeyboardInterrupt) as exc:
        _mark_failed(report, f"{type(exc).__name__}: {masked_text(str(exc))}")  # it may quote a row (R12)
        raise
    report.refresh_from_db()
    log.info("report applied report=%s source=%s %s", report.pk, report.source,
             " ".join(f"{k}={v}" for k, v in report.counts().items()))  # fmt: skip
    lifecycle.applied(report)
    return IngestResult(report, True, APPLIED)


def _start(report: DeactivationReport) -> IngestResult | None:
    """Mark the report running for the admin to see; a result instead when there is nothing to do here."""
    # A short transaction of its own: the ingest's own stays invisible until it commits.
    with transaction.atomic():
        row = DeactivationReport.objects.select_for_update(skip_locked=True).filter(pk=report.pk).first()
        if row is None:
            return IngestResult(report, False, BUSY)
        if row.status == DeactivationReport.Status.SUCCEEDED:
            return IngestResult(row, False, ALREADY_APPLIED)
        if row.status in lifecycle.WAITING_FOR_ADMIN:  # held or discarded: only release_report moves it (R14)
            return IngestResult(row, False, f"{row.status}; an Admin releases or discards it")
        DeactivationReport.objects.filter(pk=row.pk).update(
            status=DeactivationReport.Status.RUNNING,
            started_at=timezone.now(),
            finished_at=None,
            attempts=F("attempts") + 1,
            error="",
        )
    return None


def _mark_failed(report: DeactivationReport, error: str) -> None:
    log.warning("report failed report=%s source=%s error=%s", report.pk, report.source, error[:300])
    failed = DeactivationReport.objects.filter(pk=report.pk).exclude(status=DeactivationReport.Status.SUCCEEDED)
    if failed.update(status=DeactivationReport.Status.FAILED, error=error[:2000], finished_at=timezone.now()):
        lifecycle.failed(report, error)


def _open(report: DeactivationReport):
    if report.origin == DeactivationReport.Origin.UPLOAD:
        return report.file.open("rb")
    return sources.for_origin(report.origin).open_report(report)  # issue 18: S3, Twilio or an HTTP feed


def report_batch(report: DeactivationReport) -> SignalBatch:
    """The staging batch for a report's signals: every row an opt-out, reason deactivated, carried by the report."""
    ref_type = ContentType.objects.get_for_model(DeactivationReport)
    fixed = {"action": Action.OPT_OUT.value, "reason": Reason.DEACTIVATED.value, "scope_id": None, "until_at": None,
             "error_code": None, "carrier_id": None, "ref_type_id": ref_type.pk, "ref_id": report.pk}  # fmt: skip
    return SignalBatch(fixed=fixed)


def stage_report(
    report: DeactivationReport, batch: SignalBatch, *, stats: ParseStats, today: date, progress: Progress | None = None
) -> None:
    """Stream the report's file into `batch`, column batch by column batch (R10); `stats` counts what was read."""
    with _open(report) as stream:
        staged = 0
        # The file is read and its numbers normalized in a thread while the batches before are staged.
        parsed = (_signals(rows) for rows in report_batches(stream, report_date=report.report_date, today=today,
                                                              stats=stats))  # fmt: skip
        for signals in read_ahead(parsed, name=f"report-{report.pk}"):
            before, staged = staged, staged + batch.load_columns(signals)
            if progress:
                # Each multiple of PROGRESS_EVERY the batch passed, as if the rows had come one by one.
                for mark in range(before - before % PROGRESS_EVERY + PROGRESS_EVERY, staged + 1, PROGRESS_EVERY):
                    progress(mark, stats.bytes_read, False)
        if progress:
            progress(stats.valid, stats.bytes_read, True)
    batch.loaded()


def _apply(report: DeactivationReport, progress: Progress | None, today: date) -> None:
    stats = ParseStats()
    with report_batch(report) as batch:
        stage_report(report, batch, stats=stats, today=today, progress=progress)
        lifecycle.check_layout(stats)  # mostly invalid rows: not a layout we read, fail whole (issue 16)
        duplicates = batch.repeated_numbers()
        outcome = apply_staged_signals(batch, source=Source.DEACTIVATION_REPORT)
        # Issue 17: every valid row, contact or not, into the reassigned-number ledger (R13); same transaction.
        ledger.record_staged_deactivations(batch)
    report.rows, report.valid, report.invalid, report.future = (
        stats.rows,
        stats.valid,
        stats.invalid,
        stats.future,
    )
    report.invalid_samples = stats.samples
    report.bytes_read = stats.bytes_read
    report.duplicates = duplicates
    report.matched_contacts = outcome.matched_contacts
    report.opted_out, report.already_opted_out, report.stale = (
        outcome.opted_out,
        outcome.already_opted_out,
        outcome.stale,
    )
    report.status = DeactivationReport.Status.SUCCEEDED
    report.error = ""
    report.finished_at = timezone.now()
    report.save()


def _signals(rows: ReportBatch) -> pa.Table:
    """A batch of report rows as signal columns: a row's date is 00:00 UTC that day (DESIGN.md)."""
    return pa.table(
        {"seq": rows.lines, "phone": rows.numbers, "occurred_at": rows.days.cast(pa.timestamp("s", tz="UTC"))}
    )


def fetch_latest(*, progress_for: ProgressFor | None = None) -> IngestResult:
    """Resolve `latest` to its dated report and apply it once."""
    obj = _resolve(s3.latest, s3.default_key(None), None)
    return _ingest_object(obj, progress_for)


def fetch_dated(day: date, *, progress_for: ProgressFor | None = None) -> IngestResult:
    """Apply the report of one day, once."""
    obj = _resolve(lambda: s3.dated_report(day), s3.default_key(day), day)
    return _ingest_object(obj, progress_for)


def _ingest_object(obj: s3.ReportObject, progress_for: ProgressFor | None) -> IngestResult:
    report = report_for_object(obj)
    return ingest(report, progress=progress_for(report) if progress_for else None)


def _resolve(find: Callable[[], s3.ReportObject], key: str, day: date | None) -> s3.ReportObject:
    """Find a report in the bucket; when it cannot be seen, leave a row that says why."""
    try:
        obj = find()
    except s3.ReportNotPublished as exc:
        note_unpublished(key, day, str(exc))
        raise
    except s3.ReportAccessDenied as exc:
        note_denied(key, day, str(exc))
        raise
    except s3.S3Unavailable as exc:
        note_unpublished(key, day, f"{exc}; will retry")
        raise
    # The object may sit under another key (`latest` under its dated twin's, or a "US/" folder),
    # where report_for_object would not find this placeholder.
    DeactivationReport.objects.filter(fingerprint=_placeholder_fingerprint(key)).delete()
    return obj


def backfill(*, today: date | None = None, progress_for: ProgressFor | None = None) -> Iterator[IngestResult]:
    """Apply every dated report of the last 90 days not applied yet, oldest first; a failed one stops nothing."""
    today = today or timezone.now().date()
    for obj in s3.list_reports(since=today - timedelta(days=BACKFILL_DAYS)):
        report = report_for_object(obj)
        if report.status == DeactivationReport.Status.SUCCEEDED:
            yield IngestResult(report, False, ALREADY_APPLIED)
            continue
        try:
            yield ingest(report, progress=progress_for(report) if progress_for else None, today=today)
        except (ReportFailed, s3.ReportNotPublished) as exc:
            # The row records the failure; the other days are still worth applying.
            report.refresh_from_db()
            yield IngestResult(report, False, str(exc))
