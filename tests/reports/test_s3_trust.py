"""Issue 13 (8): what S3 says is not taken on trust. A body longer than the listed size, or of no stated size,
fails its report whole with nothing applied; a bucket owned by another account is refused by S3 itself when
DEACT_REPORTS_BUCKET_OWNER is set; and a DEACT_REPORTS_REGION that is not a region name stops every process."""

import functools
import io
import os
import subprocess
import sys

import pytest

from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from reports import s3
from reports.models import DeactivationReport
from tests.conftest import ROOT
from tests.reliability.faults_support import consent_state
from tests.reports.builders import (
    DAY,
    A,
    numbers,
    opted_out,
    publish_with_subscriber,
    report_csv,
)
from tests.s3_endpoint import BUCKET_OWNER, Fault

pytestmark = pytest.mark.django_db

CONSENT = ("subscriptions", "events", "suspensions")
LISTED = report_csv((A, DAY))  # a few dozen bytes


@functools.cache
def twenty_mb() -> bytes:
    """A report of about 20 MB, A not among its numbers; made once, when a test first asks."""
    return report_csv(*((number, DAY) for number in numbers(800_000)))


@pytest.fixture
def published(s3_reports):
    return publish_with_subscriber(s3_reports, LISTED)


def serve(s3_reports, fault: Fault) -> None:
    s3_reports.proxy.fault = lambda request: fault if request.operation == "GetObject" else None


def ingest_fails(says: str) -> DeactivationReport:
    """Run the operator's command: it must exit non-zero saying `says`, and the report's row must say it too."""
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("ingest_deactivations", "--latest", stdout=out, stderr=io.StringIO())
    assert says in str(failed.value)
    report = DeactivationReport.objects.get()
    assert report.status == DeactivationReport.Status.FAILED
    assert says in report.error
    return report


CASES = {
    # (the body served instead of the listed one, sent without a Content-Length, what the failure says)
    "20 MB served for a listed few dozen bytes": (twenty_mb, False, "more bytes than listed"),
    "no Content-Length": (lambda: LISTED, True, "without a Content-Length"),
    "no Content-Length and 20 MB": (twenty_mb, True, "without a Content-Length"),
    "fewer bytes than listed": (lambda: LISTED[:-5], False, "fewer bytes than listed"),
}


@pytest.mark.parametrize("body, chunked, says", CASES.values(), ids=CASES.keys())
def test_a_body_other_than_listed_fails_the_report_and_applies_nothing(published, s3_reports, body, chunked, says):
    before = consent_state(*CONSENT)
    serve(s3_reports, Fault(body=body(), chunked=chunked))

    ingest_fails(says)

    assert consent_state(*CONSENT) == before
    assert opted_out(published) == [False]
    s3_reports.proxy.fault = None
    call_command("ingest_deactivations", "--latest", stdout=io.StringIO(), stderr=io.StringIO())
    assert opted_out(published) == [True]  # the honest body, once served, applies


def test_the_reader_stops_one_byte_past_the_listed_size():
    """Whatever the framing, the reader never hands out more than listed, and reads at most one byte more."""
    body = io.BytesIO(b"x" * 1000)
    reader = s3.CountingReader(body, bucket="b", key="k", limit=100)
    with pytest.raises(s3.ReportNotAsListed, match="more bytes than listed"):
        reader.read()
    assert (reader.bytes_read, body.tell()) == (0, 101)
    exact = s3.CountingReader(io.BytesIO(b"x" * 100), bucket="b", key="k", limit=100)
    assert exact.read() == b"x" * 100


def test_every_call_names_the_expected_bucket_owner_when_set(published, s3_reports, settings):
    settings.DEACT_REPORTS_BUCKET_OWNER = BUCKET_OWNER
    call_command("ingest_deactivations", "--latest", stdout=io.StringIO(), stderr=io.StringIO())
    assert opted_out(published) == [True]
    operations = {request.operation for request in s3_reports.requests}
    assert operations >= {"ListObjectsV2", "HeadObject", "GetObject"}
    assert {request.headers.get("x-amz-expected-bucket-owner") for request in s3_reports.requests} == {BUCKET_OWNER}


def test_without_an_owner_set_no_owner_is_sent(published, s3_reports):
    call_command("ingest_deactivations", "--latest", stdout=io.StringIO(), stderr=io.StringIO())
    assert not any("x-amz-expected-bucket-owner" in request.headers for request in s3_reports.requests)


def test_a_bucket_of_another_account_is_refused_and_nothing_applied(published, s3_reports, settings):
    settings.DEACT_REPORTS_BUCKET_OWNER = "210987654321"
    before = consent_state(*CONSENT)
    with pytest.raises(CommandError, match="denied"):
        call_command("ingest_deactivations", "--latest", stdout=io.StringIO(), stderr=io.StringIO())
    assert consent_state(*CONSENT) == before
    assert {request.status for request in s3_reports.requests} == {403}


# --- DEACT_REPORTS_REGION and DEACT_REPORTS_BUCKET_OWNER at start-up ---

REGIONS = ["us-east-1", "us-west-2", "eu-central-2", "ap-southeast-4", "us-gov-west-1", "cn-north-1",
           "us-isob-east-1", "eusc-de-east-1", "mx-central-1"]  # fmt: skip
NOT_REGIONS = ["useast1", "us-east-l", "US-EAST-1", "us-east-1 ", "us-east-1.evil", "us-east-1/x", "", "east-1",
               "zz-east-1", "us_east_1", "us-east-１"]  # fmt: skip


@pytest.mark.parametrize("region", REGIONS)
def test_region_names_of_every_partition_pass(region):
    assert s3.region_problem(region) is None
    assert s3.region_is_known(region)


@pytest.mark.parametrize("region", NOT_REGIONS)
def test_a_mistyped_region_stops_check_and_every_command(settings, region):
    settings.DEACT_REPORTS_REGION = region
    # call_command skips the checks a command runs from the shell unless told not to.
    for command, options in ((["check"], {}), (["ingest_deactivations", "--latest"], {"skip_checks": False}),
                             (["list_stats"], {"skip_checks": False})):  # fmt: skip
        with pytest.raises(SystemCheckError, match="DEACT_REPORTS_REGION") as stopped:
            call_command(*command, **options, stdout=io.StringIO(), stderr=io.StringIO())
        assert "reports.E001" in str(stopped.value)


def test_a_region_shaped_but_unknown_name_is_a_warning_only(settings):
    settings.DEACT_REPORTS_REGION = "us-esat-1"
    out = io.StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "reports.W001" in out.getvalue()


@pytest.mark.parametrize("owner", ["12345678901", "1234567890123", "owner", "１２３４５６７８９０１２"])
def test_a_bucket_owner_that_is_not_an_account_id_stops_check(settings, owner):
    settings.DEACT_REPORTS_BUCKET_OWNER = owner
    with pytest.raises(SystemCheckError, match="DEACT_REPORTS_BUCKET_OWNER"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


def started(*args: str, **env: str) -> subprocess.CompletedProcess:
    """A process started the way production starts it, with the environment changed by `env`."""
    base = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**base, "DEBUG": "1", **env},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize("module", ["smsprogram.wsgi", "smsprogram.asgi"])
def test_the_web_app_refuses_to_start_on_a_mistyped_region(module):
    refused = started("-c", f"import {module}", DEACT_REPORTS_REGION="us-east1")
    assert refused.returncode != 0
    assert "ImproperlyConfigured: DEACT_REPORTS_REGION 'us-east1' is not an AWS region name" in refused.stderr
    assert started("-c", f"import {module}", DEACT_REPORTS_REGION="us-east-1").returncode == 0


def test_the_worker_refuses_to_start_on_a_mistyped_region():
    refused = started("-m", "celery", "-A", "smsprogram", "worker", "--pool=solo", "--without-heartbeat",
                      "--without-gossip", "--without-mingle", DEACT_REPORTS_REGION="us-east1")  # fmt: skip
    assert refused.returncode == 1
    assert "DEACT_REPORTS_REGION 'us-east1' is not an AWS region name" in refused.stderr
