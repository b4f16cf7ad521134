"""Alerts for the on-call engineer: one email per event (never one per row) to ALERT_EMAILS, always logged.

An alert names report ids, sources, lists and counts; any digits that could be a phone number are
masked (R12). Mail goes through Django's mail settings (EMAIL_URL); a mail server that is down loses
the email, never the ingest.
"""

import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.guard import held_lines
from contacts.phones import mask
from reports.models import AlertSent, DeactivationReport

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "[smsprogram] "
# Seven digits or more, possibly with separators: what could be a phone number in an error text.
_NUMBER_LIKE = re.compile(r"\+?\d[\d ().-]{5,}\d")


def masked(text: str) -> str:
    return _NUMBER_LIKE.sub(lambda m: mask(m.group()) if sum(c.isdigit() for c in m.group()) >= 7 else m.group(),
                            text)  # fmt: skip


def send(subject: str, lines: list[str], *, event: str, **fields) -> bool:
    """Log the alert and mail it to ALERT_EMAILS; True when a message went out."""
    body = masked("\n".join(lines))
    subject = masked(subject)
    context = " ".join(f"{key}={value}" for key, value in fields.items())
    log.warning("alert event=%s %s subject=%r", event, context, subject)
    recipients = settings.ALERT_EMAILS
    if not recipients:
        return False
    try:
        send_mail(SUBJECT_PREFIX + subject, body + "\n", None, recipients, fail_silently=False)
    except Exception as exc:  # the mail server is down: the log line above is the record
        log.error("alert not mailed event=%s error=%s", event, exc)
        return False
    return True


def once_per(key: str, period: timedelta, *, now: datetime) -> bool:
    """True when no alert under `key` went out within `period` (and records this one): a repeated state
    alerts once a day, not once an hour."""
    with transaction.atomic():
        row = AlertSent.objects.select_for_update().filter(key=key).first()
        if row is not None:
            if now - row.sent_at < period:
                return False
            row.sent_at = now
            row.save(update_fields=["sent_at"])
            return True
        try:
            with transaction.atomic():
                AlertSent.objects.create(key=key, sent_at=now)
        except IntegrityError:  # a concurrent check recorded it first
            return False
    return True


def _link(report: DeactivationReport) -> str:
    return f"Admin: /admin/reports/deactivationreport/{report.pk}/change/"


def _name(report: DeactivationReport) -> str:
    return report.key or report.file_name or f"report {report.pk}"


def report_failed(report: DeactivationReport, error: str) -> bool:
    source = report.source
    return send(
        f"report {report.pk} failed ({source})",
        [f"Report {report.pk} ({_name(report)}, source {source}) failed; nothing was applied.",
         f"Error: {error[:500]}", _link(report)],
        event="report_failed", report=report.pk, source=source,
    )  # fmt: skip


def report_held(report: DeactivationReport) -> bool:
    source = report.source
    lists = held_lines(report.held_lists)
    return send(
        f"report {report.pk} held by the mass opt-out guard ({source})",
        [f"Report {report.pk} ({_name(report)}, source {source}) would opt out more than "
         f"{settings.OPT_OUT_GUARD_PERCENT}% and more than {settings.OPT_OUT_GUARD_MIN} subscriptions of a list. "
         "Nothing was applied.", *lists,
         f"An Admin applies it anyway or discards it: manage.py release_report {report.pk} [--discard].",
         _link(report)],
        event="report_held", report=report.pk, source=source, lists=len(lists),
    )  # fmt: skip


def import_held(job) -> bool:
    lists = held_lines(job.held_lists)
    return send(
        f"import {job.pk} held by the mass opt-out guard ({job.kind})",
        [f"Import {job.pk} ({job.file_name}, {job.kind}) would opt out too much of a list. Nothing was applied.",
         *lists, f"An Admin applies it anyway or discards it: manage.py release_report --import {job.pk} [--discard]."],
        event="import_held", job=job.pk, kind=job.kind, lists=len(lists),
    )  # fmt: skip


def invalid_share(report: DeactivationReport, share: float, median: float, history: int) -> bool:
    source = report.source
    return send(
        f"report {report.pk}: {share:.1f}% invalid rows, far above the usual {median:.1f}%",
        [f"Report {report.pk} ({_name(report)}, source {source}) applied with {report.invalid} of {report.rows} "
         f"rows invalid ({share:.1f}%); the median of the last {history} reports is {median:.1f}%.",
         "The provider may have changed the file's layout.", _link(report)],
        event="invalid_share", report=report.pk, source=source, invalid=report.invalid, rows=report.rows,
    )  # fmt: skip


def stale(lines: list[str], *, sources: list[str], now: datetime | None = None) -> bool:
    """Ingestion is stale: alert once a day for the same set of stale sources."""
    now = now or timezone.now()
    if not once_per("stale:" + ",".join(sorted(sources)), timedelta(days=1), now=now):
        return False
    return send(f"ingestion stale: {', '.join(sources)}", lines, event="stale", sources=",".join(sources))


def interrupted(reports: list[DeactivationReport]) -> bool:
    return send(
        f"{len(reports)} report(s) interrupted",
        [f"Report {r.pk} ({_name(r)}, source {r.source}) was left running by a worker that died; "
         "its changes rolled back and it is retried." for r in reports],
        event="interrupted", reports=",".join(str(r.pk) for r in reports),
    )  # fmt: skip
