"""S3 failing the way it does in production: each fault ends in a retry or a clearly failed report, and
never in a half-applied one (R9). NoSuchKey and AccessDenied on a whole request, and a single 503 that
botocore retries by itself, are pinned in tests/reports/; these are the faults those do not cover."""

import gzip

import pytest
from botocore.config import Config
from celery.exceptions import Retry

from reports import s3, services, tasks
from reports.models import DeactivationReport
from tests.reliability.faults_support import consent_state
from tests.reports import conftest as s3_fixtures
from tests.reports.builders import (
    DAY,
    LATEST_KEY,
    A,
    dated_key,
    numbers,
    opted_out,
    publish_with_subscriber,
    report_csv,
    subscribed,
)
from tests.s3_endpoint import Fault, once

pytestmark = pytest.mark.django_db

# The S3 endpoint of the reports tests: moto behind the requester-pays proxy with its fault hook.
moto_server, moto_client, s3_proxy, s3_reports = (s3_fixtures.moto_server, s3_fixtures.moto_client,
                                                  s3_fixtures.s3_proxy, s3_fixtures.s3_reports)  # fmt: skip
# What a report changes when applied; its own row records the failure (and may be created by the fetch).
CONSENT = ("subscriptions", "events", "suspensions")

BODY = report_csv((A, DAY), *((number, DAY) for number in numbers(20_000)))  # about 480 kB


@pytest.fixture
def published(s3_reports):
    """Today's report under its dated key and as `latest`, with one subscriber on it."""
    return publish_with_subscriber(s3_reports, BODY)


@pytest.fixture
def impatient_s3(monkeypatch):
    """A client that gives up sooner than production's (1 s read timeout, 2 attempts), so a test does not wait."""
    monkeypatch.setattr(s3, "CLIENT_CONFIG", Config(retries={"mode": "standard", "max_attempts": 2},
                                                    connect_timeout=2, read_timeout=1))  # fmt: skip
    monkeypatch.setattr(s3, "_clients", {})


def gets(s3_reports) -> list[int | None]:
    return [request.status for request in s3_reports.requests if request.operation == "GetObject"]


def test_a_response_slower_than_the_read_timeout_is_asked_again_and_applied(published, s3_reports, impatient_s3):
    s3_reports.proxy.fault = once(Fault(delay=2), when=lambda request: request.operation == "GetObject")

    result = services.fetch_latest()

    assert result.applied
    assert len(gets(s3_reports)) == 2  # botocore gave up on the first after 1 s and asked again
    assert result.report.bytes_read == len(BODY)
    assert opted_out(published) == [True]


def test_a_connection_reset_mid_body_fails_the_report_cleanly_and_the_retry_applies_it(published, s3_reports):
    before = consent_state(*CONSENT)
    s3_reports.proxy.fault = once(Fault(reset_after=100_000), when=lambda request: request.operation == "GetObject")

    with pytest.raises(Retry) as retry:
        tasks.ingest_latest_report.delay()

    assert isinstance(retry.value.exc, s3.S3Unavailable)
    report = DeactivationReport.objects.get()
    assert report.status == DeactivationReport.Status.FAILED
    assert f"reading s3://{s3_reports.bucket}/{dated_key(DAY)} broke off after" in report.error
    assert consent_state(*CONSENT) == before  # nothing of the 100 kB it did read was applied (R9)

    assert tasks.ingest_latest_report.delay().get()["opted_out"] == 1

    report.refresh_from_db()
    assert (report.status, report.attempts, report.bytes_read) == (DeactivationReport.Status.SUCCEEDED, 2, len(BODY))
    assert opted_out(published) == [True]


TRANSIENT = {
    # (the operation failing, its status and S3 error code, what the task retries on, what the report row says)
    "GetObject throttled (503 SlowDown)": ("GetObject", 503, "SlowDown", s3.S3Unavailable,
                                           "S3 kept answering SlowDown"),
    "GetObject failing (500 InternalError)": ("GetObject", 500, "InternalError", s3.S3Unavailable,
                                              "S3 kept answering InternalError"),
    # A HEAD answer has no body, so only its status tells what went wrong.
    "HeadObject unavailable (503)": ("HeadObject", 503, "ServiceUnavailable", s3.S3Unavailable,
                                     "S3 kept answering 503"),
    "ListObjectsV2 throttled (503 SlowDown)": ("ListObjectsV2", 503, "SlowDown", s3.S3Unavailable,
                                               "S3 kept answering SlowDown"),
    "GetObject NoSuchKey after the listing saw it": ("GetObject", 404, "NoSuchKey", s3.ReportNotPublished,
                                                     "is not published"),
}  # fmt: skip


@pytest.mark.parametrize("operation, status, code, raised, says", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_s3_failing_past_botocores_own_retries_ends_in_a_task_retry_that_applies_once(
    published, s3_reports, impatient_s3, operation, status, code, raised, says
):
    before = consent_state(*CONSENT)
    s3_reports.proxy.fault = lambda request: Fault(status, code) if request.operation == operation else None

    with pytest.raises(Retry) as retry:
        tasks.ingest_latest_report.delay()

    assert isinstance(retry.value.exc, raised)
    assert consent_state(*CONSENT) == before
    row = DeactivationReport.objects.get()
    # A file it could not read is failed; one it could not even find waits, saying why.
    assert row.status in (DeactivationReport.Status.FAILED, DeactivationReport.Status.PENDING)
    assert says in row.error
    statuses = [request.status for request in s3_reports.requests if request.operation == operation]
    assert statuses and set(statuses) == {status}

    s3_reports.proxy.fault = None
    assert tasks.ingest_latest_report.delay().get()["opted_out"] == 1
    assert tasks.ingest_latest_report.delay().get()["opted_out"] == 1  # the same report's counts: applied once

    applied = DeactivationReport.objects.get()
    assert (applied.status, applied.key) == (DeactivationReport.Status.SUCCEEDED, dated_key(DAY))
    assert opted_out(published) == [True]


def test_a_truncated_gzip_report_fails_clearly_without_a_retry(s3_reports):
    sub = subscribed(A)
    truncated = gzip.compress(BODY)[:50_000]
    s3_reports.put(dated_key(DAY), truncated)
    s3_reports.put(LATEST_KEY, truncated)
    before = consent_state(*CONSENT)

    # Not a Retry: the bytes in the bucket are cut short, and reading them again gives the same bytes.
    with pytest.raises(services.ReportFailed, match="the gzip file is cut short"):
        tasks.ingest_latest_report.delay()

    report = DeactivationReport.objects.get()
    assert report.status == DeactivationReport.Status.FAILED
    assert "gzip file is cut short" in report.error
    assert consent_state(*CONSENT) == before
    assert opted_out(sub) == [False]
