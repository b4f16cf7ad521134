"""Arrange the reassigned-number ledger the way production fills it: an uploaded report, applied."""

import io
from datetime import date

from contacts.ledger_models import DeactivatedNumber, RecentDeactivation
from reports import services
from reports.models import DeactivationReport


def report_of(*rows: tuple[str, date]) -> bytes:
    """A provider's report: a header, then number (in any written form) and deactivation date."""
    return b"phone_number,deactivation_date\n" + b"".join(f'"{n}",{d.isoformat()}\n'.encode() for n, d in rows)


def apply_report(*rows: tuple[str, date], report_date: date | None = None) -> DeactivationReport:
    """Upload and apply a report of these rows; returns the applied report."""
    body = report_of(*rows)
    report = services.report_for_upload(io.BytesIO(body), file_name="report.csv", report_date=report_date)
    return services.ingest(report, today=date(2099, 1, 1)).report


def ledger_rows() -> set[tuple[str, date]]:
    """The ledger, both tiers, as (E.164, day) pairs."""
    rows = [*DeactivatedNumber.objects.all(), *RecentDeactivation.objects.all()]
    return {(row.phone, row.deactivated_on) for row in rows}


def clear_ledger() -> None:
    DeactivatedNumber.objects.all().delete()
    RecentDeactivation.objects.all().delete()
