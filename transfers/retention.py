"""Upload retention: a stored upload's file is deleted UPLOAD_RETENTION_DAYS after its upload (the row's created
time). The report or import row stays, with its counts and samples, and says when its file went; a daily beat task
runs this. It lives here, in the top layer, because it treats deactivation reports and imports alike. A big
export's file (ExportJob) goes the same way, that many days after it was asked for.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models

from reports.models import DeactivationReport
from transfers.models import ExportJob, ImportJob

log = logging.getLogger(__name__)

BATCH = 500
REMOVED = "the file was removed by retention before it was applied; upload it again"
# Rows that still needed their file (a held one, to be released, too): with it gone they can never finish,
# so they say so instead of waiting.
UNFINISHED = {
    DeactivationReport: [
        DeactivationReport.Status.PENDING,
        DeactivationReport.Status.RUNNING,
        DeactivationReport.Status.HELD,
        DeactivationReport.Status.INTERRUPTED,
    ],
    ImportJob: [
        ImportJob.Status.VALIDATING,
        ImportJob.Status.PREVIEWED,
        ImportJob.Status.CONFIRMED,
        ImportJob.Status.HELD,
    ],
    ExportJob: [ExportJob.Status.QUEUED, ExportJob.Status.RUNNING],
}


def remove_expired_uploads(*, now: datetime) -> dict[str, int]:
    """Delete the stored files of uploads older than UPLOAD_RETENTION_DAYS; returns how many, per kind of row."""
    cutoff = now - timedelta(days=settings.UPLOAD_RETENTION_DAYS)
    removed = {"reports": _remove(DeactivationReport, cutoff, now), "imports": _remove(ImportJob, cutoff, now),
               "exports": _remove(ExportJob, cutoff, now)}  # fmt: skip
    log.info("uploads removed by retention reports=%d imports=%d exports=%d days=%d", removed["reports"],
             removed["imports"], removed["exports"], settings.UPLOAD_RETENTION_DAYS)  # fmt: skip
    return removed


def _remove(model: type[models.Model], cutoff: datetime, now: datetime) -> int:
    expired = model.objects.filter(created_at__lt=cutoff, file_removed_at__isnull=True).exclude(file="")
    pks = []
    for row in expired.only("pk", "file").iterator(chunk_size=BATCH):
        # File first, row second: a crash in between leaves a row that the next run finds again, and deleting
        # a file that is already gone is not an error.
        row.file.delete(save=False)
        pks.append(row.pk)
    for start in range(0, len(pks), BATCH):
        batch = model.objects.filter(pk__in=pks[start : start + BATCH])
        batch.filter(status__in=UNFINISHED[model]).update(status=model.Status.FAILED, error=REMOVED, finished_at=now)
        batch.update(file="", file_removed_at=now)
    return len(pks)
