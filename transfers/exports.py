"""Exports that are never cut off: streamed in the request when they are small, written by a worker when not.

A streamed response must end inside the web server's worker timeout (gunicorn kills a sync worker after 30 s
by default, mid-file, and the browser keeps a truncated CSV). So before streaming, an export is sized: by the
tallies when they know its size (or a bound under the limit), else by a count that stops at
EXPORT_DIRECT_MAX_ROWS + 1 rows (it reads no more than the streamed export would). Bigger exports become an
ExportJob: a Celery worker writes the whole file (the same bytes, the same COPY), its page shows the progress,
and a permission-checked view hands the file out when it is ready. The retention task deletes the file after
UPLOAD_RETENTION_DAYS; the row stays.
"""

import json
import logging
import pickle
import tempfile
import time

from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.core.files import File
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from contacts.csvio import csv_download, download_name
from contacts.exports import Column, Export
from smsprogram.celery import enqueue_on_commit
from transfers.models import ExportJob
from transfers.services import JobProgress

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 1.0  # how often a running job's row count is written
Status = ExportJob.Status


def small_enough(export: Export) -> bool:
    """Whether the export fits in a request: at most EXPORT_DIRECT_MAX_ROWS rows."""
    limit = settings.EXPORT_DIRECT_MAX_ROWS
    if export.at_most is not None and (export.at_most <= limit or export.exact):
        return export.at_most <= limit
    return export.queryset.order_by()[: limit + 1].count() <= limit


def deliver(request: HttpRequest, export: Export) -> HttpResponse:
    """The export as a download now, or, too big for a request, as a job whose page the user is sent to."""
    if small_enough(export):
        user = request.user.pk

        def done(rows: int) -> None:
            log.info("export downloaded name=%s user=%s rows=%d", export.name, user, rows)

        return csv_download(export.stream(on_done=done), export.name, *export.title)
    job = start_export(export, user=request.user)
    messages.info(request, f"About {job.rows_total:,} rows: a worker is writing the file; this page offers it "
                           "for download when it is ready.")  # fmt: skip
    return HttpResponseRedirect(reverse("admin:transfers_exportjob_change", args=[job.pk]))


def start_export(export: Export, *, user) -> ExportJob:
    """Record the export as a job and queue it for a worker."""
    queryset = export.queryset
    job = ExportJob.objects.create(
        name=export.name,
        title=" ".join(export.title)[:255],
        model=queryset.model._meta.label_lower,
        query=pickle.dumps(queryset.query),
        columns=[[column.header, column.path] for column in export.columns],
        permission=export.permission,
        rows_total=export.at_most if export.at_most is not None else estimate(queryset),
        created_by=user if user is not None and user.pk else None,
    )
    log.info("export queued job=%d name=%s user=%s rows_total=%d", job.pk, job.name, job.created_by_id,
             job.rows_total)  # fmt: skip
    from transfers import tasks

    enqueue_on_commit(tasks.write_export, job.pk)
    return job


def estimate(queryset) -> int:
    """The planner's row estimate on PostgreSQL (no rows read); a count on SQLite."""
    if connection.vendor != "postgresql":
        return queryset.count()
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def export_of(job: ExportJob) -> Export:
    """The job's export, rebuilt from its stored query."""
    queryset = apps.get_model(job.model).objects.all()
    queryset.query = pickle.loads(bytes(job.query))
    columns = [Column(header, path) for header, path in job.columns]
    return Export(job.name, columns, queryset, permission=job.permission, title=tuple(job.title.split()))


def write(job_id: int) -> ExportJob:
    """Write the job's file (a worker's task). Run again after a crash, it writes the file anew."""
    if not ExportJob.objects.filter(pk=job_id, status__in=[Status.QUEUED, Status.RUNNING]).update(
        status=Status.RUNNING, started_at=timezone.now(), rows_done=0
    ):
        return ExportJob.objects.get(pk=job_id)  # written already, or failed: nothing to do
    job = ExportJob.objects.get(pk=job_id)
    try:
        with JobProgress(job.pk, table=ExportJob._meta.db_table) as progress, tempfile.TemporaryFile() as out:
            rows = _write_file(export_of(job), out, progress)
            out.seek(0)
            job.file.save(download_name(job.name, *job.title.split()), File(out), save=False)
    except Exception as exc:
        # The message names the failure, never a row: no phone number reaches the job's page or the log (R12).
        ExportJob.objects.filter(pk=job.pk).update(status=Status.FAILED, error=type(exc).__name__,
                                                   finished_at=timezone.now())  # fmt: skip
        log.exception("export failed job=%d name=%s", job.pk, job.name)
        raise
    ExportJob.objects.filter(pk=job.pk).update(status=Status.READY, file=job.file.name, size=job.file.size,
                                               rows_done=rows, finished_at=timezone.now())  # fmt: skip
    log.info("export written job=%d name=%s rows=%d bytes=%d", job.pk, job.name, rows, job.file.size)
    job.refresh_from_db()
    return job


def _write_file(export: Export, out, progress) -> int:
    stream = export.stream()
    lines, reported = -1, time.monotonic()  # the header is no row
    for chunk in stream:
        out.write(chunk)
        lines += chunk.count(b"\n")  # a quoted newline counts too: the progress bar only
        if time.monotonic() - reported >= PROGRESS_SECONDS:
            progress(lines)
            reported = time.monotonic()
    return stream.rows
