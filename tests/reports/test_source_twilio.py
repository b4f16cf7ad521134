"""The twilio source against a stand-in of Twilio's Deactivations API on loopback (issue 18): basic auth, the
JSON-then-signed-URL flow and its 307 form, expiring URLs, and every error the issue names."""

from datetime import date, timedelta

import pytest
from celery.exceptions import Retry

from contacts.models import OptOutEvent
from reports import fetching, services, sources, tasks
from reports.models import DeactivationReport
from tests.reports.builders import DAY, TODAY, A, B, at, opted_out, snapshot, subscribed
from tests.support.commands import run
from tests.support.providers import SID, Reply, json_reply, times

pytestmark = pytest.mark.django_db
YESTERDAY = TODAY - timedelta(days=1)
Status = DeactivationReport.Status


def twilio_file(*numbers: str) -> bytes:
    """Twilio's daily file: one number a line, no header, no date."""
    return "".join(f"{number.removeprefix('+')}\n" for number in numbers).encode()


def ingest(*args: str) -> tuple[int, str, str]:
    return run("ingest_deactivations", "--source", "twilio", *args)


def test_the_signed_url_is_fetched_without_credentials_and_the_day_applies(twilio):
    sub = subscribed(A)
    twilio.publish(YESTERDAY, twilio_file(A, B))

    code, out, _ = ingest("--latest")

    report = DeactivationReport.objects.get()
    assert code == 0 and out.startswith(f"applied: report={report.pk} date={YESTERDAY} status=succeeded rows=2 ")
    assert (report.origin, report.source, report.report_date) == ("twilio", "twilio", YESTERDAY)
    assert report.key == f"{twilio.url}/v1/Deactivations?Date={YESTERDAY}"
    assert report.fingerprint == f"twilio:{SID}:{YESTERDAY}"
    assert opted_out(sub) == [True] and sub.opted_out_at == at(YESTERDAY)
    [api] = twilio.api_calls()
    assert api.arg("Date") == YESTERDAY.isoformat() and api.headers["authorization"].startswith("Basic ")
    [signed] = twilio.file_host.seen
    assert "authorization" not in signed.headers  # another host's URL: the Twilio credentials stay home
    assert signed.host.startswith("127.0.0.2:")


def test_a_307_to_the_signed_url_is_followed_the_same_way(twilio):
    sub = subscribed(A)
    twilio.redirect_with_307 = True
    twilio.publish(DAY, twilio_file(A))

    result = fetching.fetch_dated("twilio", DAY)

    assert result.applied and opted_out(sub) == [True]
    assert [seen.path for seen in twilio.seen] == ["/v1/Deactivations"]
    assert "authorization" not in twilio.file_host.seen[0].headers


def test_r6_the_same_day_again_is_already_applied_without_asking_twilio(twilio):
    subscribed(A)
    twilio.publish(DAY, twilio_file(A))
    first = fetching.fetch_dated("twilio", DAY)
    twilio.reset()
    before = snapshot()

    code, out, _ = ingest("--date", DAY.isoformat())

    assert code == 0 and out.startswith(f"already applied; nothing changed: report={first.report.pk} ")
    assert twilio.seen == [] and twilio.file_host.seen == []
    assert snapshot() == before and DeactivationReport.objects.count() == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_fail_after_one_request_and_are_not_retried(twilio, settings, status):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"
    if status == 403:
        twilio.faults.append(lambda seen: json_reply(403, {"code": 20003, "message": "Permission denied"}))
    twilio.publish(DAY, twilio_file(A))

    code, out, error = ingest("--date", DAY.isoformat())

    report = DeactivationReport.objects.get()
    assert code == 1 and out.startswith("failed: ")
    assert error.startswith(f"report {report.pk} failed: Twilio refused the credentials ({status} ")
    assert report.status == Status.FAILED and "refused the credentials" in report.error
    assert len(twilio.seen) == 1 and twilio.file_host.seen == []


def test_refused_credentials_are_not_retried_by_the_schedule(twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"

    with pytest.raises(services.ReportFailed, match="refused the credentials"):
        tasks.ingest_latest_report.delay(source="twilio")

    assert len(twilio.seen) == 1


def test_an_unpublished_day_is_not_ready_and_applies_once_published(twilio):
    sub = subscribed(A)

    code, _, error = ingest("--date", DAY.isoformat())

    assert code == 1 and error.startswith(f"not ready: Twilio has not published {DAY} yet (404 ")
    assert error.endswith("; nothing was applied")
    waiting = DeactivationReport.objects.get()
    assert waiting.status == Status.PENDING and waiting.error.startswith("not ready: ")
    twilio.publish(DAY, twilio_file(A))

    code, out, _ = ingest("--date", DAY.isoformat())

    assert code == 0 and out.startswith(f"applied: report={waiting.pk} ")
    assert opted_out(sub) == [True]


def test_today_is_not_ready_without_asking_because_a_day_is_published_the_next_day(twilio):
    code, _, error = ingest("--date", TODAY.isoformat())

    assert code == 1 and "not ready: Twilio publishes the deactivations of" in error
    assert twilio.seen == []


def test_the_schedule_retries_a_day_not_ready_later(twilio):
    with pytest.raises(Retry) as retry:
        tasks.ingest_latest_report.delay(source="twilio")

    assert isinstance(retry.value.exc, sources.NotReady)
    assert DeactivationReport.objects.get().status == Status.PENDING


def test_a_date_out_of_range_fails_with_twilios_message(twilio):
    code, _, error = ingest("--date", "2019-06-01")

    report = DeactivationReport.objects.get()
    assert code == 1
    assert error == (f"report {report.pk} failed: Twilio refused 2019-06-01 (400 Bad Request: Date must be on or "
                     f"after 2020-08-27) at {twilio.url}/v1/Deactivations?Date=2019-06-01")  # fmt: skip
    assert report.status == Status.FAILED and "Date must be on or after 2020-08-27" in report.error


def test_5xx_and_resets_are_tried_again_with_a_pause_then_apply(twilio):
    sub = subscribed(A)
    twilio.publish(DAY, twilio_file(A))
    twilio.faults.append(times(1, Reply(503, b"busy")))
    twilio.faults.append(times(1, Reply(reset_after=0)))
    twilio.file_host.faults.append(times(1, Reply(502, b"bad gateway")))

    result = fetching.fetch_dated("twilio", DAY)

    assert result.applied and opted_out(sub) == [True]
    assert len(twilio.api_calls()) == 3 and len(twilio.file_host.seen) == 2


def test_a_provider_that_keeps_failing_is_given_up_on_after_bounded_tries(twilio):
    twilio.publish(DAY, twilio_file(A))
    twilio.faults.append(lambda seen: Reply(503, b"down"))

    code, _, error = ingest("--date", DAY.isoformat())

    assert code == 1
    assert (
        error.startswith("Twilio's Deactivations API kept failing at ")
        and "503 Service Unavailable after 4 tries" in error
    )
    assert len(twilio.seen) == 4
    assert DeactivationReport.objects.get().status == Status.FAILED
    with pytest.raises(Retry):
        tasks.ingest_latest_report.delay(source="twilio")  # the schedule tries again later


def test_an_expired_signed_url_is_asked_for_again_once(twilio):
    sub = subscribed(A)
    twilio.publish(DAY, twilio_file(A))
    twilio.file_host.expire_next = 1  # the first URL has expired by the time it is used

    result = fetching.fetch_dated("twilio", DAY)

    assert result.applied and opted_out(sub) == [True]
    assert len(twilio.api_calls()) == 2
    assert [seen.status for seen in twilio.file_host.seen] == [403, 200]


def test_a_signed_url_that_fails_again_fails_the_report(twilio):
    subscribed(A)
    twilio.publish(DAY, twilio_file(A))
    twilio.file_host.valid_seconds = -1  # every URL has expired by the time it is used

    code, _, error = ingest("--date", DAY.isoformat())

    report = DeactivationReport.objects.get()
    assert code == 1
    assert error.startswith(f"report {report.pk} failed: Twilio's signed URL for {DAY} failed 2 times, the last "
                            "with 403 Forbidden")  # fmt: skip
    assert report.status == Status.FAILED and "signed URL" in report.error
    assert len(twilio.api_calls()) == 2 and len(twilio.file_host.seen) == 2
    assert OptOutEvent.objects.count() == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
def test_a_body_over_upload_max_mb_fails_and_applies_nothing(twilio, settings, chunked):
    settings.UPLOAD_MAX_MB = 1
    sub = subscribed(A)
    body = twilio_file(A) * (1024 * 1024 // 11 + 1)
    twilio.publish(DAY, body)
    twilio.file_host.faults.append(lambda seen: Reply(200, body, chunked=chunked))

    code, _, error = ingest("--date", DAY.isoformat())

    assert code == 1 and "larger than the upload limit of 1 MB (UPLOAD_MAX_MB)" in error
    assert DeactivationReport.objects.get().status == Status.FAILED
    assert opted_out(sub) == [False]


def test_a_body_cut_short_fails_and_applies_none_of_it(twilio):
    sub = subscribed(A)
    body = twilio_file(A, B) * 1000
    twilio.publish(DAY, body)
    twilio.file_host.faults.append(lambda seen: Reply(200, body[:5000], length=len(body)))

    code, _, error = ingest("--date", DAY.isoformat())

    assert code == 1 and "broke off after 5000 bytes (5000 of" in error
    assert opted_out(sub) == [False] and OptOutEvent.objects.count() == 0


def test_backfill_asks_for_each_day_kept_from_twilios_first_day_and_skips_what_is_applied(twilio):
    sub = subscribed(A, opted_in=date(2020, 1, 1))
    today = date(2020, 9, 1)  # Twilio's data starts on 2020-08-27: no day before it is asked for
    twilio.publish(date(2020, 8, 28), twilio_file(A))
    twilio.publish(date(2020, 8, 30), twilio_file(B))

    results = list(fetching.backfill("twilio", today=today))

    asked = [seen.arg("Date") for seen in twilio.api_calls()]
    assert asked == ["2020-08-27", "2020-08-28", "2020-08-29", "2020-08-30", "2020-08-31"]
    assert [result.applied for result in results] == [False, True, False, True, False]
    assert [result.report.status for result in results].count(Status.PENDING) == 3
    assert opted_out(sub) == [True]
    twilio.reset()

    again = list(fetching.backfill("twilio", today=today))

    assert [result.message for result in again if not result.report.status == Status.PENDING] == [
        services.ALREADY_APPLIED
    ] * 2
    assert [seen.arg("Date") for seen in twilio.api_calls()] == ["2020-08-27", "2020-08-29", "2020-08-31"]


def test_backfill_stops_at_refused_credentials(twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "not-the-token"

    code, out, error = ingest("--backfill")

    assert code == 1 and "refused the credentials" in error and error.endswith("; nothing more was applied")
    assert len(twilio.seen) == 1
    assert out.splitlines()[-1].startswith("backfill: reports=1 applied=0 already_applied=0 failed=1 ")


def test_an_unconfigured_source_says_what_is_missing_and_leaves_no_row(settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""

    code, _, error = ingest("--latest")

    assert code == 1
    assert error == ("the twilio source is not configured: TWILIO_ACCOUNT_SID is not set; TWILIO_AUTH_TOKEN is not "
                     "set; nothing was applied")  # fmt: skip
    assert not DeactivationReport.objects.exists()
