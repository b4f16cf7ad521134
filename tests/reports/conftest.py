"""Fixtures for the reports app: an S3 endpoint over real HTTP with a requester-pays check."""

from collections.abc import Iterator

import boto3
import pytest

from tests.conftest import require
from tests.s3_endpoint import EndpointUnavailable, MotoServer, ReportBucket, S3Proxy
from tests.support.smtp import Inbox, SmtpServer

REGION = "us-east-1"
BUCKET = f"{REGION}-pinpoint-sms-voice"


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    """moto's standalone S3 server, one process for the session."""
    try:
        server = MotoServer.start(tmp_path_factory.mktemp("moto") / "moto.log")
    except EndpointUnavailable as exc:
        require(False, f"needs an S3 endpoint: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_proxy(moto_server) -> Iterator[S3Proxy]:
    """The recording, requester-pays-checking proxy in front of moto."""
    proxy = S3Proxy(moto_server.port)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture(scope="session")
def moto_client(moto_server):
    """A boto3 client straight to moto, for arranging buckets without going through the proxy."""
    # Explicit endpoint and credentials: the environment s3_reports sets is not in force yet.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=moto_server.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def s3_reports(moto_client, s3_proxy, monkeypatch, settings) -> Iterator[ReportBucket]:
    """An empty `us-east-1-pinpoint-sms-voice` bucket; reports.s3 reaches it through the proxy."""
    # boto3 reads these itself; the profile and session token are dropped so a developer's
    # own AWS configuration cannot leak into the tests.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_proxy.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    settings.DEACT_REPORTS_REGION = REGION
    settings.DEACT_REPORTS_COUNTRY = "us"
    reports = ReportBucket(bucket=BUCKET, proxy=s3_proxy, client=moto_client)
    reports.create()
    s3_proxy.reset()
    try:
        yield reports
    finally:
        s3_proxy.reset()
        reports.destroy()


@pytest.fixture
def smtp(settings) -> Iterator[Inbox]:
    """Alerts go by real SMTP to a server in this process; its inbox is what the on-call engineer gets."""
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.ALERT_EMAILS = ["oncall@example.com", "lead@example.com"]
        settings.DEFAULT_FROM_EMAIL = "alerts@sms.example.com"
        yield server.inbox
