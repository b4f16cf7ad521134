"""A 200,000-row upload goes the background way: a real Celery worker on Redis previews it, then applies it."""

import time
from itertools import islice

import pytest

from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.models import Subscription
from contacts.phones import InvalidNumber, UsNormalizer
from tests.factories import SenderCodeFactory, SubscriberListFactory
from transfers import services
from transfers.models import ImportJob, ImportKind

ROWS = 200_000
INVALID_EVERY = 1000  # one row in a thousand has no valid number


def valid_numbers():
    valid = UsNormalizer()
    for area in ("212", "312", "415", "617", "713", "305"):
        for exchange in range(201, 1000):
            for line in range(0, 10000, 97):
                number = f"+1{area}{exchange}{line:04d}"
                try:
                    yield valid(number)
                except InvalidNumber:
                    break  # the whole exchange is invalid


def wait_for(job: ImportJob, *statuses: str, timeout: float = 240) -> ImportJob:
    """The worker writes the job's status; poll it until it gets there."""
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.status in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the worker sees committed rows only
def test_a_200000_row_import_is_previewed_and_applied_on_the_worker(celery_worker, postgres):
    SubscriberListFactory(sender_code=SenderCodeFactory(code="45678"), name="Flash")
    lines = ["phone,sender_code,list,opted_in_at"]
    for n, number in enumerate(islice(valid_numbers(), ROWS)):
        lines.append(f"{'bad' if n % INVALID_EVERY == 0 else number},45678,Flash,2026-01-01")
    upload = SimpleUploadedFile("big.csv", ("\n".join(lines) + "\n").encode(), "text/csv")

    job = services.start_import(kind=ImportKind.SUBSCRIPTIONS, upload=upload, user=None)

    assert (job.in_background, job.rows_total) == (True, ROWS)
    job = wait_for(job, ImportJob.Status.PREVIEWED, ImportJob.Status.FAILED)
    invalid = ROWS // INVALID_EVERY
    assert (job.status, job.rows_done, job.preview["created"], job.preview["invalid"]) == (
        ImportJob.Status.PREVIEWED, ROWS, ROWS - invalid, invalid,
    )  # fmt: skip
    assert job.samples[0] == {"line": 2, "reason": "invalid phone number: not a phone number"}
    assert Subscription.objects.count() == 0

    assert services.confirm(job)
    job = wait_for(job, ImportJob.Status.APPLIED, ImportJob.Status.FAILED)

    assert (job.status, job.result["created"], job.result["invalid"]) == (
        ImportJob.Status.APPLIED,
        ROWS - invalid,
        invalid,
    )
    assert Subscription.objects.count() == ROWS - invalid
    assert celery_worker.poll() is None
