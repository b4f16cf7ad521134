"""Deactivation reports: fetch, stream, stage and apply — once per file (R6), all or nothing (R9).

The file streams from S3 (or an upload) through the parser straight into a staging table
(`COPY` on PostgreSQL), and the domain's set-based rules apply the whole batch in the same
transaction that holds the report's row lock. A second worker on the same report skips it.
"""

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import BinaryIO

from django.contrib.contenttypes.models import ContentType
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from contacts.models import Reason, Source
from contacts.services import Action, apply_staged_signals, signal_batch
from contacts.staging import fetch_int
from reports import s3
from reports.models import DeactivationReport
from reports.parsing import NotAReport, ParseStats, parse_report

log = logging.getLogger(__name__)

BACKFILL_DAYS = 90  # AWS keeps the last 90 days of dated reports
PROGRESS_EVERY = 50_000

Progress = Callable[[int, int], None]  # (rows so far, bytes so far)


class ReportFailed(Exception):
    """The report could not be applied; its row says why and nothing changed (R8, R9)."""


@dataclass
class IngestResult:
    report: DeactivationReport
    applied: bool  # False: already applied, or another worker holds it
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
    report, _ = DeactivationReport.objects.update_or_create(
        fingerprint=f"s3:{s3.bucket_name()}:{key}:unpublished",
        defaults={
            "origin": DeactivationReport.Origin.S3, "bucket": s3.bucket_name(), "key": key,
            "report_date": report_date, "status": DeactivationReport.Status.PENDING,
            "error": f"{error} (checked {timezone.now():%Y-%m-%d %H:%M} UTC)",
        },
    )  # fmt: skip
    return report


def report_for_upload(stream: BinaryIO, *, file_name: str, report_date: date | None) -> DeactivationReport:
    """Store an uploaded report file; the same content uploaded twice is one report (R6)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    report, created = DeactivationReport.objects.get_or_create(
        fingerprint=f"sha256:{digest.hexdigest()}",
        defaults={
            "origin": DeactivationReport.Origin.UPLOAD, "file_name": file_name[:255], "report_date": report_date,
            "size": size,
        },
    )  # fmt: skip
    if created:
        report.file.save(file_name[-100:] or "report.csv", File(stream), save=True)
    return report


def ingest(report: DeactivationReport, *, progress: Progress | None = None, today: date | None = None) -> IngestResult:
    """Apply one report at most once; a failure leaves the database as it was and says why."""
    today = today or timezone.now().date()
    _mark_running(report)
    try:
        with transaction.atomic():
            locked = DeactivationReport.objects.select_for_update(skip_locked=True).filter(pk=report.pk).first()
            if locked is None:
                return IngestResult(report, False, "another worker is applying this report")
            if locked.status == DeactivationReport.Status.SUCCEEDED:
                return IngestResult(locked, False, "already applied; nothing changed")
            _apply(locked, progress, today)
    except (NotAReport, s3.ReportAccessDenied, s3.ReportNotPublished) as exc:
        _mark_failed(report, str(exc))
        raise ReportFailed(str(exc)) from exc
    except Exception as exc:
        _mark_failed(report, f"{type(exc).__name__}: {exc}")
        raise
    report.refresh_from_db()
    log.info("report applied report=%s %s", report.pk, " ".join(f"{k}={v}" for k, v in report.counts().items()))
    return IngestResult(report, True, "applied")


def _mark_running(report: DeactivationReport) -> None:
    # Shown in the admin while the ingest transaction (invisible until commit) runs.
    DeactivationReport.objects.filter(pk=report.pk).exclude(status=DeactivationReport.Status.SUCCEEDED).update(
        status=DeactivationReport.Status.RUNNING,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        error="",
    )


def _mark_failed(report: DeactivationReport, error: str) -> None:
    log.warning("report failed report=%s error=%s", report.pk, error[:300])
    DeactivationReport.objects.filter(pk=report.pk).exclude(status=DeactivationReport.Status.SUCCEEDED).update(
        status=DeactivationReport.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def _open(report: DeactivationReport):
    if report.origin == DeactivationReport.Origin.UPLOAD:
        return report.file.open("rb")
    obj = s3.ReportObject(report.bucket, report.key, report.report_date, report.etag, report.size or 0,
                          report.created_at)  # fmt: skip
    return s3.open_report(obj)


def _apply(report: DeactivationReport, progress: Progress | None, today: date) -> None:
    stats = ParseStats()
    ref_type = ContentType.objects.get_for_model(DeactivationReport)
    defaults = {"action": Action.OPT_OUT.value, "reason": Reason.DEACTIVATED.value, "ref_type_id": ref_type.pk,
                "ref_id": report.pk}  # fmt: skip
    with _open(report) as stream, signal_batch(**defaults) as batch:
        rows = parse_report(stream, report_date=report.report_date, today=today, stats=stats)
        batch.load(["seq", "phone", "occurred_at"], _staged(rows, stats, progress))
        duplicates = fetch_int("SELECT COUNT(*) - COUNT(DISTINCT phone) FROM signal_batch")
        outcome = apply_staged_signals(batch, source=Source.DEACTIVATION_REPORT)
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


def _staged(rows: Iterator[tuple[int, str, date]], stats: ParseStats, progress: Progress | None):
    """Parsed rows as staging rows: a row's date is 00:00 UTC that day (DESIGN.md)."""
    midnight: dict[date, datetime] = {}
    for n, (line, number, day) in enumerate(rows, start=1):
        at = midnight.get(day) or midnight.setdefault(day, datetime.combine(day, time(), tzinfo=UTC))
        yield line, number, at
        if progress and n % PROGRESS_EVERY == 0:
            progress(n, stats.bytes_read)
    if progress:
        progress(stats.valid, stats.bytes_read)


def fetch_latest(*, progress: Progress | None = None) -> IngestResult:
    """Resolve `latest` to its dated report and apply it once."""
    try:
        obj = s3.latest()
    except s3.ReportNotPublished as exc:
        note_unpublished(s3.default_key(None), None, str(exc))
        raise
    return ingest(report_for_object(obj), progress=progress)


def fetch_dated(day: date, *, progress: Progress | None = None) -> IngestResult:
    """Apply the report of one day, once."""
    try:
        obj = s3.dated_report(day)
    except s3.ReportNotPublished as exc:
        note_unpublished(s3.default_key(day), day, str(exc))
        raise
    return ingest(report_for_object(obj), progress=progress)


def backfill(*, today: date | None = None, progress: Progress | None = None) -> list[IngestResult]:
    """Apply every dated report of the last 90 days not applied yet, oldest first."""
    today = today or timezone.now().date()
    results = []
    for obj in s3.list_reports(since=today - timedelta(days=BACKFILL_DAYS)):
        report = report_for_object(obj)
        if report.status != DeactivationReport.Status.SUCCEEDED:
            results.append(ingest(report, progress=progress, today=today))
    return results
