"""The http source against a stand-in provider on loopback (issue 18): DEACT_HTTP_URL's {date}, the
DEACT_HTTP_HEADERS key, any file the parser reads, the errors the issue names, and DEACT_HTTP_DAYS_KEPT."""

import gzip
import io
import tracemalloc
import zipfile
from datetime import date, timedelta

import pytest

from django.core.management import CommandError, call_command

from reports import fetching, sources
from reports.models import DeactivationReport
from reports.sources import http_feed
from tests.reports.builders import DAY, TODAY, A, B, C, opted_out, report_csv, subscribed
from tests.support.commands import run
from tests.support.providers import FEED_KEY, FeedStandIn, Reply, times

pytestmark = pytest.mark.django_db
Status = DeactivationReport.Status


def zipped(body: bytes) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as files:
        files.writestr("deactivated.csv", body)
    return archive.getvalue()


def ingest(*args: str) -> tuple[int, str, str]:
    return run("ingest_deactivations", "--source", "http", *args)


@pytest.mark.parametrize(
    "encode",
    [lambda body: body, gzip.compress, zipped],
    ids=["plain", "gzip", "zip"],
)
def test_the_days_file_is_fetched_with_the_key_header_and_applied(feed, encode):
    subs = subscribed(A), subscribed(B)
    feed.files[DAY] = encode(report_csv((A, DAY), (B, DAY - timedelta(days=1))))

    code, out, _ = ingest("--date", DAY.isoformat())

    report = DeactivationReport.objects.get()
    assert code == 0 and out.startswith(f"applied: report={report.pk} date={DAY} status=succeeded rows=2 valid=2 ")
    assert (report.source, report.report_date) == ("http", DAY)
    # The date shows; the template's other query values never do (one may be a key).
    assert report.key == f"{feed.url}/deactivated_phone_numbers?date={DAY}&format=…"
    assert opted_out(*subs) == [True, True]
    [seen] = feed.seen
    assert (seen.arg("date"), seen.arg("format")) == (DAY.isoformat(), "txt")
    assert (seen.headers["x-auth-token"], seen.headers["accept"]) == (FEED_KEY, "text/plain")


def test_one_number_a_line_takes_the_day_of_the_url(feed):
    sub = subscribed(A)
    feed.files[DAY] = b"2025550143\n"

    result = fetching.fetch_dated("http", DAY)

    assert result.applied and opted_out(sub) == [True]
    assert sub.opted_out_at.date() == DAY


def test_latest_is_yesterdays_file(feed):
    sub = subscribed(A)
    feed.files[TODAY - timedelta(days=1)] = b"2025550143\n"

    code, _, _ = ingest("--latest")

    assert code == 0 and opted_out(sub) == [True]
    assert feed.days_asked() == [(TODAY - timedelta(days=1)).isoformat()]


def test_a_missing_key_is_refused_after_one_request(feed, settings):
    settings.DEACT_HTTP_HEADERS = ""
    feed.files[DAY] = b"2025550143\n"

    code, _, error = ingest("--date", DAY.isoformat())

    report = DeactivationReport.objects.get()
    assert code == 1 and error.startswith(f"report {report.pk} failed: the HTTP feed refused the credentials (401 ")
    assert report.status == Status.FAILED and len(feed.seen) == 1


def test_a_day_not_published_is_not_ready(feed):
    code, _, error = ingest("--date", DAY.isoformat())

    assert code == 1 and error.startswith(f"not ready: the HTTP feed has not published {DAY} yet (404 Not Found")
    assert DeactivationReport.objects.get().status == Status.PENDING


def test_a_date_the_provider_refuses_fails_with_its_message(feed):
    feed.faults.append(lambda seen: Reply(400, b"date is older than our 30 days of history"))

    code, _, error = ingest("--date", DAY.isoformat())

    assert code == 1 and f"the HTTP feed refused {DAY} (400 Bad Request: date is older than our 30 days" in error
    assert DeactivationReport.objects.get().status == Status.FAILED


def test_a_5xx_is_tried_again_and_a_redirect_keeps_the_key_on_its_origin_only(feed):
    sub = subscribed(A)
    feed.files[DAY] = b"2025550143\n"
    feed.faults.append(times(2, Reply(500, b"oops")))
    elsewhere = FeedStandIn()  # another origin (port): the key must not travel there
    try:
        elsewhere.faults.append(lambda seen: Reply(302, headers={"Location": feed.template.format(date=DAY)}))
        feed.faults.append(times(1, Reply(302, headers={"Location": f"{elsewhere.url}/moved"})))

        result = fetching.fetch_dated("http", DAY)

        assert result.applied and opted_out(sub) == [True]
        assert "x-auth-token" not in elsewhere.seen[0].headers
        assert [seen.status for seen in feed.seen] == [500, 500, 302, 200]
        assert feed.seen[-1].headers["x-auth-token"] == FEED_KEY  # back on the feed's origin: sent again
    finally:
        elsewhere.close()


def test_backfill_asks_for_the_days_kept_only(feed, settings):
    settings.DEACT_HTTP_DAYS_KEPT = 3
    subs = subscribed(A), subscribed(B), subscribed(C)
    days = [TODAY - timedelta(days=n) for n in (4, 3, 2, 1)]
    for day, number in zip(days, (A, A, B, C), strict=True):
        feed.files[day] = report_csv((number, day))

    code, out, _ = ingest("--backfill")

    assert code == 0 and feed.days_asked() == [day.isoformat() for day in days[1:]]
    assert out.splitlines()[-1].startswith("backfill: reports=3 applied=3 already_applied=0 failed=0 ")
    assert opted_out(*subs) == [True, True, True]


def test_headers_that_are_not_name_value_pairs_are_named_without_their_values(settings):
    settings.DEACT_HTTP_URL = "https://feed.example/deact?date={date}"
    settings.DEACT_HTTP_HEADERS = "X-AUTH-TOKEN=s3cret-value, broken-s3cret"

    code, _, error = ingest("--latest")

    assert code == 1 and "pair 2 of DEACT_HTTP_HEADERS is not Name=value" in error
    assert "s3cret" not in error and not DeactivationReport.objects.exists()
    with pytest.raises(ValueError, match="X-Key holds a line break"):
        http_feed.parse_headers("X-Key=a\rb")


@pytest.mark.parametrize(
    "url, problem",
    [
        ("", "DEACT_HTTP_URL is not set"),
        ("https://feed.example/deact", "DEACT_HTTP_URL has no {date} in it"),
        ("file:///etc/{date}", "DEACT_HTTP_URL is not an http(s) URL"),
    ],
)
def test_an_unusable_url_is_named(settings, url, problem):
    settings.DEACT_HTTP_URL = url

    with pytest.raises(sources.NotConfigured, match=problem.replace("(", r"\(").replace(")", r"\)")):
        fetching.fetch_dated("http", date(2026, 11, 20))


@pytest.mark.slow
def test_a_large_body_streams_through_in_flat_memory(feed):
    sub = subscribed(A)
    row = f"{A},{DAY},{'x' * 3000}\n".encode()  # long rows: many bytes to read, few rows to apply
    body = b"phone_number,deactivation_date,note\n" + row * (24 * 1024 * 1024 // len(row))
    feed.files[DAY] = body

    tracemalloc.start()
    try:
        result = fetching.fetch_dated("http", DAY)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result.applied and opted_out(sub) == [True]
    assert result.report.bytes_read == len(body)
    assert peak < len(body) / 4, f"peak {peak / 2**20:.1f} MB"


@pytest.mark.parametrize(
    "args, message",
    [
        (("--source", "http", "--file", "deact.csv"), "--source goes with --latest, --date or --backfill"),
        (("--source", "sftp", "--latest"), "invalid choice: 'sftp'"),
    ],
)
def test_source_names_one_of_the_sources_and_never_goes_with_a_file(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("ingest_deactivations", *args, stdout=io.StringIO(), stderr=io.StringIO())
