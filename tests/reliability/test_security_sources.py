"""Issue 18: the Twilio token, the DEACT_HTTP_HEADERS values and a signed URL's query string are never written —
not to command output, not to logs at any level, not to report records, not to alerts — whatever the provider
answers, even when its error message quotes them back."""

import base64
import json
import logging
from datetime import timedelta

import pytest

from django.core import mail

from reports.models import DeactivationReport
from tests.reports.builders import DAY, A, subscribed
from tests.support.commands import run
from tests.support.providers import FEED_KEY, SID, TOKEN, Reply, json_reply, times

pytestmark = pytest.mark.django_db
BODY = b"2025550143\n" * 2000


def twilio_ok(twilio):
    twilio.publish(DAY, BODY)


def twilio_wrong_token_echoed(twilio):
    twilio.faults.append(
        lambda seen: json_reply(401, {"message": f"Authenticate {TOKEN} {seen.headers['authorization']}"})
    )


def twilio_out_of_range_echoing_the_request(twilio):
    twilio.faults.append(
        lambda seen: json_reply(400, {"message": f"Bad Date; you sent {seen.headers['authorization']}"})
    )


def twilio_signed_url_expired_twice(twilio):
    twilio.publish(DAY, BODY)
    twilio.file_host.valid_seconds = -1


def twilio_signed_url_failing(twilio):
    twilio.publish(DAY, BODY)
    twilio.file_host.faults.append(lambda seen: Reply(503, b"slow down"))


def twilio_body_cut_short(twilio):
    twilio.publish(DAY, BODY)
    twilio.file_host.faults.append(lambda seen: Reply(200, BODY, reset_after=3000))


def twilio_307_then_not_found(twilio):
    twilio.redirect_with_307 = True
    twilio.publish(DAY, BODY)
    twilio.file_host.faults.append(lambda seen: Reply(404, f"no such file {seen.arg('Signature')}".encode()))


def twilio_not_ready(twilio):
    pass


def feed_ok(feed):
    feed.files[DAY] = BODY


def feed_refused_echoing_the_key(feed):
    feed.faults.append(lambda seen: Reply(403, f"key {seen.headers.get('x-auth-token')} is revoked".encode()))


def feed_retried_then_cut_short(feed):
    feed.files[DAY] = BODY
    feed.faults.append(times(2, Reply(502, b"bad gateway")))
    feed.faults.append(lambda seen: Reply(200, BODY, length=len(BODY) + 10))


def feed_bad_request_echoing_the_key(feed):
    feed.faults.append(
        lambda seen: Reply(400, json.dumps({"error": f"X-AUTH-TOKEN={FEED_KEY} has no access"}).encode())
    )


TWILIO = [
    twilio_ok, twilio_wrong_token_echoed, twilio_out_of_range_echoing_the_request, twilio_signed_url_expired_twice,
    twilio_signed_url_failing, twilio_body_cut_short, twilio_307_then_not_found, twilio_not_ready,
]  # fmt: skip
FEED = [feed_ok, feed_refused_echoing_the_key, feed_retried_then_cut_short, feed_bad_request_echoing_the_key]


@pytest.fixture
def everything_logged(caplog, settings):
    settings.ALERT_EMAILS = ["oncall@example.com"]
    caplog.set_level(logging.DEBUG)  # every logger, every level
    return caplog


def everything_written(caplog, *outputs: str) -> str:
    """What a run left anywhere: its output, the log records (with any traceback), the report rows, the alerts."""
    rows = json.dumps(list(DeactivationReport.objects.values()), default=str)
    alerts = [f"{message.subject}\n{message.body}" for message in mail.outbox]
    return "\n".join([*outputs, caplog.text, rows, *alerts])


@pytest.mark.parametrize("arrange", TWILIO, ids=[scenario.__name__ for scenario in TWILIO])
def test_the_twilio_token_and_signed_urls_are_never_written(twilio, everything_logged, arrange):
    subscribed(A)
    arrange(twilio)

    for args in (("--date", DAY.isoformat()), ("--latest",), ("--date", (DAY - timedelta(days=1)).isoformat())):
        code, out, error = run("ingest_deactivations", "--source", "twilio", *args)
        written = everything_written(everything_logged, out, error)

        assert TOKEN not in written
        assert base64.b64encode(f"{SID}:{TOKEN}".encode()).decode() not in written
        for signature in twilio.file_host.signatures():
            assert signature not in written
        assert "Signature=" not in written and "Expires=" not in written
    assert twilio.seen  # the stand-in was asked: the scenario ran


@pytest.mark.parametrize("arrange", FEED, ids=[scenario.__name__ for scenario in FEED])
def test_the_feeds_header_values_are_never_written(feed, everything_logged, arrange):
    subscribed(A)
    arrange(feed)

    code, out, error = run("ingest_deactivations", "--source", "http", "--date", DAY.isoformat())

    assert FEED_KEY not in everything_written(everything_logged, out, error)
    assert feed.seen[0].headers["x-auth-token"] == FEED_KEY  # it was sent, where it belongs
