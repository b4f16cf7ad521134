"""Reassigned-number answers from the ledger (issue 17): was this number deactivated since this consent?

`yes`: a known deactivation on or after the consent's UTC day (R13's comparison; the first such day is
given). `no`: the ledger covers the whole period since the consent — it starts on or before that day —
and knows no deactivation since. `no_data`: the consent is older than the ledger's coverage and no later
deactivation is known. `invalid`: not a phone number (or not an ISO-8601 timestamp).

Coverage starts at the earliest report date applied, or at the retention cutoff once rows before it are
pruned (LEDGER_RETENTION_DAYS). A batch of at most 10,000 questions is one staged table and one query.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice

from django.db import connection, models
from django.db.models import Min
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from contacts import ledger, phones
from contacts.csvio import parse_timestamp
from contacts.staging import StagingTable
from reports.models import DeactivationReport

BATCH = 10_000  # questions per query: the API's limit, and the command's step through a file


class Answer(models.TextChoices):
    YES = "yes", "Yes: deactivated since the consent"
    NO = "no", "No: no deactivation since the consent"
    NO_DATA = "no_data", "No data: the consent is older than the ledger"
    INVALID = "invalid", "Invalid number or date"


@dataclass(frozen=True)
class Result:
    phone: object  # as given
    consented_at: object  # as given
    answer: Answer
    deactivated_on: date | None = None  # the first deactivation on or after the consent's day, for `yes`


def coverage_start(*, today: date | None = None) -> date | None:
    """The first day the ledger knows every reported deactivation of; None before any report is applied."""
    today = today or timezone.now().date()
    first = DeactivationReport.objects.filter(status=DeactivationReport.Status.SUCCEEDED).aggregate(
        first=Min(Coalesce("report_date", TruncDate("created_at")))
    )["first"]
    if first is None:
        return None
    return max(first, ledger.retention_cutoff(today))


def _consent(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        return None


def _number(text: object, numbers: phones.FileNumbers) -> str | None:
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        return None
    try:
        return numbers(text.strip())
    except ValueError:
        return None


def answer_sql() -> str:
    """Per staged question (number_check): its seq, first deactivation since the consent, and consent day."""
    first = ledger.first_deactivations_sql("number_check", "seq", "phone", "consented_at")
    return f"""
        SELECT c.seq, f.first, {ledger.utc_day_sql("c.consented_at")} FROM number_check c
        LEFT JOIN ({first}) f ON f.key = c.seq
    """


def answer_batch(questions: list[tuple[object, object]], *, coverage: date | None) -> list[Result]:
    """Answer (phone, consented_at) pairs, in their order, with one query over a staged batch."""
    numbers = phones.FileNumbers()
    staged = []
    for seq, (phone, consented) in enumerate(questions):
        number, at = _number(phone, numbers), _consent(consented)
        if number is not None and at is not None:
            staged.append((seq, number, at))
    found: dict[int, tuple[date | None, date]] = {}
    staged.sort(key=lambda row: row[1])  # probes in key order walk the ledger's index pages in order
    with StagingTable("number_check", {"seq": "int", "phone": "text", "consented_at": "ts"}) as batch:
        batch.load(["seq", "phone", "consented_at"], staged)
        with connection.cursor() as cursor:
            cursor.execute(answer_sql())
            for seq, first, day in cursor.fetchall():
                found[seq] = (ledger.as_date(first), ledger.as_date(day))
    results = []
    for seq, (phone, consented) in enumerate(questions):
        if seq not in found:
            results.append(Result(phone, consented, Answer.INVALID))
            continue
        first, day = found[seq]
        if first is not None:
            results.append(Result(phone, consented, Answer.YES, first))
        elif coverage is not None and coverage <= day:
            results.append(Result(phone, consented, Answer.NO))
        else:
            results.append(Result(phone, consented, Answer.NO_DATA))
    return results


def answers(questions: Iterable[tuple[object, object]], *, today: date | None = None) -> Iterator[Result]:
    """Answer any number of questions in input order, a batch at a time: memory stays flat."""
    coverage = coverage_start(today=today)
    questions = iter(questions)
    while batch := list(islice(questions, BATCH)):
        yield from answer_batch(batch, coverage=coverage)
