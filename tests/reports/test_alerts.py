"""Alerts reach the on-call engineer by real SMTP: one message per event, numbers masked (issue 16)."""

import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest

from django.utils import timezone

from reports import alerts, health, services
from reports.models import DeactivationReport
from tests.conftest import ROOT
from tests.reports.builders import DAY, numbers, report_csv, subscribe_many, upload
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.django_db
Status = DeactivationReport.Status
FULL_NUMBER = re.compile(r"\+?1?\d{10}")


def test_a_held_report_alerts_once_naming_the_report_lists_and_counts(smtp):
    phones = list(numbers(400))
    target = subscribe_many(phones, lists=1)[0]

    report = services.ingest(upload(report_csv(*((p, DAY) for p in phones[:250])), name="odd.csv")).report

    assert report.status == Status.HELD
    assert len(smtp.messages) == 1  # one per event, not one per row
    message = smtp.messages[0]
    assert message["Subject"] == f"[smsprogram] report {report.pk} held by the mass opt-out guard (upload)"
    assert message["From"] == "alerts@sms.example.com"
    assert smtp.recipients[0] == ["oncall@example.com", "lead@example.com"]
    body = message.get_content()
    assert f"{target.sender_code.code}/{target.name}: would opt out 250 of 400 subscribers (62.5%)" in body
    assert f"release_report {report.pk}" in body
    assert not FULL_NUMBER.search(body)


def test_a_failed_report_alerts_with_its_reason_and_no_full_number(smtp):
    body = b"phone,date\n" + b"".join(f"+1202555{n:04d},someday\n".encode() for n in range(10))

    with pytest.raises(services.ReportFailed):
        services.ingest(upload(body, name="layout.csv"))

    [message] = smtp.messages
    assert "failed (upload)" in message["Subject"]
    text = message.get_content()
    assert "layout not recognised: 10 of 10 rows invalid" in text
    assert not FULL_NUMBER.search(text)


def test_an_invalid_share_far_above_the_last_reports_median_alerts(smtp):
    for n in range(5):  # the norm: 1 invalid row in 100
        DeactivationReport.objects.create(origin="s3", fingerprint=f"s3:{n}", status=Status.SUCCEEDED, rows=100,
                                          invalid=1, finished_at=timezone.now())  # fmt: skip
    good = [f"{p},{DAY}\n" for p in numbers(60)]
    body = ("phone,date\n" + "".join(good) + "+1202555,2026-01-01\n" * 40).encode()  # 40% invalid, under 50%

    report = services.ingest(upload(body)).report

    assert report.status == Status.SUCCEEDED
    [message] = smtp.messages
    assert f"report {report.pk}: 40.0% invalid rows, far above the usual 1.0%" in message["Subject"]


def test_stale_ingestion_alerts_at_most_once_a_day(smtp):
    now = timezone.now()

    for minutes in (0, 60, 120, 23 * 60):
        health.alert_if_stale(now=now + timedelta(minutes=minutes))
    assert len(smtp.messages) == 1
    assert smtp.messages[0]["Subject"] == "[smsprogram] ingestion stale: aws"
    assert "aws never succeeded" in smtp.messages[0].get_content()

    health.alert_if_stale(now=now + timedelta(hours=25))
    assert len(smtp.messages) == 2


def test_without_alert_emails_an_alert_is_only_logged(smtp, settings, caplog):
    settings.ALERT_EMAILS = []

    sent = alerts.send("something happened", ["report 7"], event="test", report=7)

    assert sent is False and smtp.messages == []
    assert "alert event=test report=7" in caplog.text


def test_a_mail_server_that_is_down_loses_the_email_not_the_ingest(settings):
    with SmtpServer() as server:
        port = server.port  # now closed: nothing listens there
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.ALERT_EMAILS = "127.0.0.1", port, ["oncall@example.com"]

    with pytest.raises(services.ReportFailed):
        services.ingest(upload(b"<html>nope</html>"))

    assert DeactivationReport.objects.get().status == Status.FAILED


def test_email_url_and_default_from_email_configure_the_mail():
    """The settings as a deployment sets them: EMAIL_URL (django-environ) and DEFAULT_FROM_EMAIL."""
    with SmtpServer(users={"alerts": "pw"}) as server:
        env = {**os.environ, "DEBUG": "1", "EMAIL_URL": f"smtp://alerts:pw@127.0.0.1:{server.port}",
               "DEFAULT_FROM_EMAIL": "ops@sms.example.com", "ALERT_EMAILS": "a@example.com,b@example.com"}  # fmt: skip
        script = "from reports import alerts; print(alerts.send('probe', ['hello +12025550143'], event='probe'))"
        result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.stdout.splitlines()[-1] == "True", result.stderr[-2000:]
    assert server.logins == ["alerts"]
    [message] = server.inbox.messages
    assert message["From"] == "ops@sms.example.com"
    assert server.inbox.recipients == [["a@example.com", "b@example.com"]]
    assert "hello +1******0143" in message.get_content()


def test_masked_hides_phone_numbers_but_keeps_counts():
    assert alerts.masked("12 of 3400 rows; +1 202-555-0143 and 2025550144") == (
        "12 of 3400 rows; +1 ***-***-0143 and ******0144"
    )


def test_a_file_named_after_a_number_is_masked_in_the_alert(smtp):
    with pytest.raises(services.ReportFailed):
        services.ingest(upload(b"<html>nope</html>", name="+12025550143.csv"))

    [message] = smtp.messages
    assert "+1******0143.csv" in message.get_content()
    assert not FULL_NUMBER.search(message.get_content() + message["Subject"])
