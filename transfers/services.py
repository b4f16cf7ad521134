"""Operator imports: store the upload, preview it (a dry run), apply it once when confirmed.

Files up to LARGE_ROWS rows are previewed and applied within the request; bigger ones by a Celery
worker from the same stored file, with progress on the job. Either way nothing is written before the
operator confirms, and the confirmed import is one transaction (R9).
"""

import logging
from datetime import datetime

from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from contacts import guard, phones
from contacts.csvio import BadFile
from contacts.guard import Held
from reports import alerts
from reports.lifecycle import NotHeld, record_hold
from smsprogram.celery import enqueue_on_commit
from transfers.models import ImportJob, ImportKind
from transfers.resources import IMPORTS, ImportResource, may_create_lists

log = logging.getLogger(__name__)

LARGE_ROWS = 50_000  # more than this and the admin hands the file to a worker
CHUNK = 1 << 20
Status = ImportJob.Status


def start_import(
    *, kind: ImportKind, upload: UploadedFile, user, create_lists: bool = False, rows: int | None = None
) -> ImportJob:
    """Store the upload as a job and preview it: now when it is small, on a worker when it is not (`rows`: the
    upload's count_rows, when the caller has it already)."""
    job = ImportJob(kind=kind, file_name=upload.name[:255], size=upload.size or 0,
                    create_lists=create_lists and may_create_lists(user),
                    created_by=user if user is not None and user.pk else None)  # fmt: skip
    job.rows_total = count_rows(upload) if rows is None else rows
    job.file.save(upload.name, upload, save=False)
    job.in_background = job.rows_total > LARGE_ROWS
    job.save()
    log.info("import stored job=%d kind=%s rows_total=%d background=%s", job.pk, kind, job.rows_total,
             job.in_background)  # fmt: skip
    if job.in_background:
        from transfers import tasks

        enqueue_on_commit(tasks.validate_import, job.pk)
        return job
    return validate(job)


def count_rows(upload: File) -> int:
    """Lines after the header, counted chunk by chunk (never the whole file in memory): the progress bar's 100%."""
    lines, last = 0, b"\n"
    for chunk in upload.chunks(CHUNK):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    lines += last != b"\n"
    return max(lines - 1, 0)


def resource_for(job: ImportJob, progress=None) -> ImportResource:
    return IMPORTS[job.kind](user=job.created_by, create_lists=job.create_lists, progress=progress)


def validate(job: ImportJob) -> ImportJob:
    """The preview: run the import in a transaction that is rolled back, and keep what it counted."""
    if job.status != Status.VALIDATING:
        return job  # a repeated task: the preview is already there
    # The preview shows everything the file would do; the guard judges the real apply (R14).
    with JobProgress(job.pk) as progress, job.file.open("rb") as stream, guard.released():
        try:
            summary = resource_for(job, progress).run(stream, dry_run=True)
        except BadFile as exc:
            return fail(job, str(exc))
    ImportJob.objects.filter(pk=job.pk, status=Status.VALIDATING).update(
        status=Status.PREVIEWED, preview=summary.counts(), samples=summary.samples, rows_done=summary.rows
    )
    job.refresh_from_db()
    log.info("import previewed job=%d %s", job.pk, summary.line())
    return job


def confirm(job: ImportJob, *, now: datetime | None = None) -> bool:
    """The operator's go-ahead; False when the job was not waiting for one (confirmed twice, failed)."""
    confirmed = ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEWED).update(
        status=Status.CONFIRMED, confirmed_at=now or timezone.now(), rows_done=0
    )
    if not confirmed:
        return False
    if job.in_background:
        from transfers import tasks

        enqueue_on_commit(tasks.apply_import, job.pk)
    else:
        apply(job.pk)
    return True


def apply(job_id: int) -> ImportJob:
    """Apply a confirmed import in one transaction, at most once: a second run finds it applied (R6)."""
    try:
        with transaction.atomic():
            _lock(job_id)
            job = ImportJob.objects.select_related("created_by").get(pk=job_id)
            if job.status != Status.CONFIRMED:
                return job
            with JobProgress(job.pk) as progress, job.file.open("rb") as stream:
                summary = resource_for(job, progress).run(stream, dry_run=False)
            ImportJob.objects.filter(pk=job.pk).update(
                status=Status.APPLIED, result=summary.counts(), samples=summary.samples, rows_done=summary.rows,
                finished_at=timezone.now(),
            )  # fmt: skip
    except BadFile as exc:
        return fail(ImportJob.objects.get(pk=job_id), str(exc))
    except Held as exc:  # R14: rolled back whole; an Admin releases or discards it
        return hold(ImportJob.objects.get(pk=job_id), exc)
    except Exception as exc:
        # An unexpected error's text may quote a row (R12).
        fail(ImportJob.objects.get(pk=job_id), f"the import failed and changed nothing: {phones.masked_text(str(exc))}")
        raise
    log.info("import applied job=%d %s", job_id, summary.line())
    job.refresh_from_db()
    return job


def hold(job: ImportJob, held: Held) -> ImportJob:
    """Record what the guard stopped (nothing was written) and alert."""
    record_hold(ImportJob.objects.filter(pk=job.pk), held)
    job.refresh_from_db()
    log.warning("import held job=%d kind=%s lists=%d", job.pk, job.kind, len(held.hits))
    alerts.import_held(job)
    return job


def release_held(job_id: int, *, user=None) -> ImportJob:
    """An Admin's *Apply anyway* for a held import: applied once, exactly as it would have been (R14, R6)."""
    _decide(job_id, Status.CONFIRMED)
    log.info("import released job=%d by=%s", job_id, getattr(user, "pk", None))
    with guard.released():
        return apply(job_id)


def discard_held(job_id: int, *, user=None) -> ImportJob:
    """An Admin's *Discard* for a held import: never applied, kept on record."""
    _decide(job_id, Status.DISCARDED)
    log.info("import discarded job=%d by=%s", job_id, getattr(user, "pk", None))
    return ImportJob.objects.get(pk=job_id)


def _decide(job_id: int, status: str) -> None:
    # A conditional UPDATE: of two concurrent releases, the second finds the job no longer held.
    if not ImportJob.objects.filter(pk=job_id, status=Status.HELD).update(status=status):
        job = ImportJob.objects.filter(pk=job_id).first()
        raise NotHeld(f"import {job_id} is {job.status}, not held; nothing changed" if job else f"no import {job_id}")


def _lock(job_id: int) -> None:
    """Two workers handed the same job queue here; the second then sees it applied."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('transfers.importjob'), %s)", [job_id])


def fail(job: ImportJob, error: str) -> ImportJob:
    ImportJob.objects.filter(pk=job.pk).update(status=Status.FAILED, error=error, finished_at=timezone.now())
    job.refresh_from_db()
    log.info("import failed job=%d error=%s", job.pk, error[:200])
    return job


class JobProgress:
    """Rows read so far, written on a connection of its own so the admin sees it while the import's
    transaction is open (or while an export's COPY holds the main connection). SQLite allows one writer at a
    time, so there the count shows only at the end."""

    def __init__(self, job_id: int, table: str = "transfers_importjob"):
        self.job_id, self.table = job_id, table
        self.side = None

    def __enter__(self) -> "JobProgress":
        if connection.vendor == "postgresql":
            main = connections[DEFAULT_DB_ALIAS]
            self.side = type(main)({**main.settings_dict}, alias="transfers_progress")
        return self

    def __exit__(self, *exc) -> None:
        if self.side is not None:
            self.side.close()

    def __call__(self, rows: int) -> None:
        if self.side is None:
            return
        with self.side.cursor() as cursor:
            cursor.execute(f"UPDATE {self.table} SET rows_done = %s WHERE id = %s", [rows, self.job_id])
