"""Refill the reassigned-number ledger from what is stored: every applied report still readable, and every
deactivated or disconnected carrier notice. Idempotent: a number and day already known stays as it is (R6)."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from contacts import ledger
from contacts.services import Action, signal_batch
from reports import s3, services
from reports.models import CarrierNotice, DeactivationReport
from reports.parsing import NotAReport, ParseStats

log = logging.getLogger(__name__)

UNREADABLE = (OSError, NotAReport, s3.ReportNotPublished, s3.ReportAccessDenied, s3.S3Unavailable)


@dataclass
class RebuildResult:
    reports: int = 0
    rows: int = 0  # valid report rows read
    notices: int = 0
    added: int = 0  # rows the ledger did not have
    unreadable: int = 0  # reports whose file is gone (AWS keeps 90 days) or could not be read
    pruned: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        names = ("reports", "rows", "notices", "added", "unreadable", "pruned")
        return " ".join(f"{name}={getattr(self, name)}" for name in names)


def rebuild(*, today: date | None = None, progress: Callable[[int, int], None] | None = None) -> RebuildResult:
    """Read every applied report again, one transaction each, then the notices; fold, and prune past the retention."""
    today = today or timezone.now().date()
    result = RebuildResult()
    reports = DeactivationReport.objects.filter(status=DeactivationReport.Status.SUCCEEDED).order_by(
        "report_date", "pk"
    )
    total = reports.count()
    for report in reports.iterator():
        try:
            _refill_from(report, today, result)
        except UNREADABLE as exc:
            result.unreadable += 1
            result.errors.append(f"report {report.pk} ({report}): {exc}")
            log.warning("ledger rebuild skipped report=%s error=%s", report.pk, str(exc)[:300])
        result.reports += 1
        if progress:
            progress(result.reports, total)
    _refill_from_notices(result)
    result.added = ledger.fold()
    result.pruned = ledger.prune(today=today)
    log.info("ledger rebuilt %s", result.summary())
    return result


def _refill_from(report: DeactivationReport, today: date, result: RebuildResult) -> None:
    stats = ParseStats()
    with transaction.atomic(), services.report_batch(report) as batch:
        services.stage_report(report, batch, stats=stats, today=today)
        result.rows += stats.valid
        ledger.record_staged_deactivations(batch)


def _refill_from_notices(result: RebuildResult) -> None:
    events = [CarrierNotice.Event.DEACTIVATED, CarrierNotice.Event.DISCONNECTED]
    with transaction.atomic(), signal_batch() as batch:
        result.notices = batch.load_query(
            ["seq", "phone", "action", "reason", "occurred_at", "ref_type_id", "ref_id"],
            f"""
            SELECT id, phone, %s, event, occurred_at, %s, id FROM {CarrierNotice._meta.db_table}
            WHERE status = %s AND event IN (%s, %s)
            """,
            [Action.OPT_OUT.value, ContentType.objects.get_for_model(CarrierNotice).pk,
             CarrierNotice.Status.APPLIED.value, *events],
        )  # fmt: skip
        ledger.record_staged_deactivations(batch)
