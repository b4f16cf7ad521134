"""reports.s3 against moto over real HTTP, behind a proxy that enforces requester-pays like AWS."""

import hashlib
import http.client
import tracemalloc
from datetime import date, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from reports import s3
from tests.s3_endpoint import Fault, once

US = "sms-deact-reports/us"
S3_READS = {"GetObject", "ListObjectsV2", "HeadObject"}


def dated_key(day: str, folder: str = US) -> str:
    return f"{folder}/{day}-deact-report.csv"


def test_listing_returns_dated_reports_oldest_first_and_ignores_other_keys(s3_reports):
    for day in ("2026-03-02", "2026-02-28", "2026-03-01"):
        s3_reports.put(dated_key(day), f"phone\n+1202555{day[-2:]}43\n".encode())
    s3_reports.put(f"{US}/latest-deact-report.csv", b"phone\n")
    s3_reports.put(f"{US}/README.txt", b"not a report")
    s3_reports.put(f"{US}/2026-02-30-deact-report.csv", b"impossible date")
    s3_reports.put(f"{US}/archive/2026-01-05-deact-report.csv", b"deeper folder")
    s3_reports.put(dated_key("2026-01-06", "sms-deact-reports/ca"), b"another country")

    reports = s3.list_reports()

    assert [r.report_date for r in reports] == [date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)]
    assert [r.key for r in reports] == [
        dated_key("2026-02-28"),
        dated_key("2026-03-01"),
        dated_key("2026-03-02"),
    ]
    first = reports[0]
    assert first.bucket == s3.bucket_name() == "us-east-1-pinpoint-sms-voice"
    assert first.etag == hashlib.md5(b"phone\n+12025552843\n").hexdigest()
    assert first.size == len(b"phone\n+12025552843\n")
    assert first.last_modified.tzinfo == timezone.utc


def test_listing_since_keeps_that_day_and_later(s3_reports):
    for day in ("2026-02-28", "2026-03-01", "2026-03-02"):
        s3_reports.put(dated_key(day), day.encode())

    reports = s3.list_reports(since=date(2026, 3, 1))

    assert [r.report_date for r in reports] == [date(2026, 3, 1), date(2026, 3, 2)]


def test_upper_case_folder_keys_are_found_and_used_as_listed(s3_reports):
    upper = "sms-deact-reports/US"
    s3_reports.put(dated_key("2026-03-01", upper), b"phone\n+12025550143\n")
    s3_reports.put(f"{upper}/latest-deact-report.csv", b"phone\n+12025550143\n")

    listed = s3.list_reports()
    dated = s3.dated_report(date(2026, 3, 1))
    latest = s3.latest()

    assert [r.key for r in listed] == [dated_key("2026-03-01", upper)]
    assert dated.key == latest.key == dated_key("2026-03-01", upper)
    heads = [r.path for r in s3_reports.requests if r.operation == "HeadObject"]
    assert heads == [
        f"/{s3_reports.bucket}/{upper}/2026-03-01-deact-report.csv",
        f"/{s3_reports.bucket}/{upper}/latest-deact-report.csv",
    ]


def test_denied_listing_of_the_other_folder_spelling_is_tolerated(s3_reports):
    s3_reports.put(dated_key("2026-03-01"), b"phone\n")
    s3_reports.proxy.fault = lambda r: (
        Fault(403, "AccessDenied") if r.query.get("prefix") == ["sms-deact-reports/US/"] else None
    )

    assert [r.key for r in s3.list_reports()] == [dated_key("2026-03-01")]


def test_denied_listing_of_the_configured_folder_is_access_denied(s3_reports):
    s3_reports.proxy.fault = lambda r: (
        Fault(403, "AccessDenied") if r.query.get("prefix") == ["sms-deact-reports/us/"] else None
    )

    with pytest.raises(s3.ReportAccessDenied):
        s3.list_reports()


def test_listing_follows_pagination(s3_reports, monkeypatch):
    monkeypatch.setattr(s3, "LIST_PAGE_SIZE", 2)
    days = [f"2026-03-0{n}" for n in range(1, 8)]
    for day in days:
        s3_reports.put(dated_key(day), day.encode())

    reports = s3.list_reports()

    assert [r.report_date.isoformat() for r in reports] == days
    us_pages = [r for r in s3_reports.requests if r.operation == "ListObjectsV2" and r.query["prefix"] == [f"{US}/"]]
    assert len(us_pages) == 4
    assert all(r.query["max-keys"] == ["2"] for r in us_pages)
    assert all("continuation-token" in r.query for r in us_pages[1:])


def test_latest_takes_the_date_of_the_dated_report_with_the_same_etag(s3_reports):
    s3_reports.put(dated_key("2026-03-01"), b"phone\n+12025550101\n")
    etag = s3_reports.put(dated_key("2026-03-02"), b"phone\n+12025550102\n")
    s3_reports.put(f"{US}/latest-deact-report.csv", b"phone\n+12025550102\n")

    latest = s3.latest()

    assert latest == s3.dated_report(date(2026, 3, 2))
    assert (latest.key, latest.report_date, latest.etag) == (dated_key("2026-03-02"), date(2026, 3, 2), etag)


def test_latest_without_a_dated_twin_is_dated_by_its_last_modified_day(s3_reports):
    s3_reports.put(dated_key("2026-03-01"), b"phone\n+12025550101\n")
    etag = s3_reports.put(f"{US}/latest-deact-report.csv", b"phone\n+12025550199\n")
    head = s3_reports.client.head_object(Bucket=s3_reports.bucket, Key=f"{US}/latest-deact-report.csv")

    latest = s3.latest()

    assert latest.key == f"{US}/latest-deact-report.csv"
    assert latest.etag == etag
    assert latest.report_date == head["LastModified"].astimezone(timezone.utc).date()
    assert latest.last_modified == head["LastModified"].astimezone(timezone.utc)


def test_missing_dated_report_is_not_published(s3_reports):
    s3_reports.put(dated_key("2026-03-01"), b"phone\n")

    with pytest.raises(s3.ReportNotPublished):
        s3.dated_report(date(2026, 3, 2))


def test_missing_latest_is_not_published_even_with_dated_reports(s3_reports):
    s3_reports.put(dated_key("2026-03-01"), b"phone\n")

    with pytest.raises(s3.ReportNotPublished):
        s3.latest()


def test_report_replaced_after_it_was_resolved_is_not_read(s3_reports):
    s3_reports.put(f"{US}/latest-deact-report.csv", b"phone\n+12025550101\n")
    resolved = s3.latest()
    s3_reports.put(f"{US}/latest-deact-report.csv", b"phone\n+12025550202\n")

    with pytest.raises(s3.ReportNotPublished):
        s3.open_report(resolved)


def test_every_s3_call_accepts_the_requester_pays_charge(s3_reports):
    s3_reports.put(dated_key("2026-03-01"), b"phone\n+12025550143\n")
    s3_reports.put(f"{US}/latest-deact-report.csv", b"phone\n+12025550143\n")

    s3.list_reports()
    with s3.open_report(s3.dated_report(date(2026, 3, 1))) as report:
        report.read()
    s3.latest()

    calls = [r for r in s3_reports.requests if r.operation in S3_READS]
    assert {r.operation for r in calls} == S3_READS
    assert len(calls) == len(s3_reports.requests)
    assert all(r.headers.get("x-amz-request-payer") == "requester" for r in calls)
    assert all(r.status == 200 for r in calls)


def test_a_call_without_requester_pays_is_refused_and_maps_to_access_denied(s3_reports):
    s3_reports.put(dated_key("2026-03-01"), b"phone\n")
    plain = boto3.session.Session().client("s3")  # the endpoint and credentials s3_reports set

    with pytest.raises(ClientError) as refused:
        plain.get_object(Bucket=s3_reports.bucket, Key=dated_key("2026-03-01"))
    with pytest.raises(s3.ReportAccessDenied):
        with s3._s3_errors(s3_reports.bucket, dated_key("2026-03-01")):
            plain.head_object(Bucket=s3_reports.bucket, Key=dated_key("2026-03-01"))

    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert [(r.operation, r.status) for r in s3_reports.requests] == [("GetObject", 403), ("HeadObject", 403)]


def test_open_report_streams_a_large_object_in_chunks(s3_reports):
    line = b"+12025550143,2026-03-01\n"
    body = line * (20 * 1024 * 1024 // len(line))
    expected = hashlib.sha256(body).hexdigest()
    s3_reports.put(dated_key("2026-03-01"), body)
    size = len(body)
    del body
    report = s3.dated_report(date(2026, 3, 1))

    tracemalloc.start()
    try:
        digest = hashlib.sha256()
        with s3.open_report(report) as stream:
            assert stream.readable()
            while chunk := stream.read(64 * 1024):
                digest.update(chunk)
            read = stream.bytes_read
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stream.closed
    assert read == size == report.size
    assert digest.hexdigest() == expected
    assert peak < 2 * 1024 * 1024


def test_open_report_supports_readinto(s3_reports):
    s3_reports.put(dated_key("2026-03-01"), b"phone\n+12025550143\n")

    with s3.open_report(s3.dated_report(date(2026, 3, 1))) as stream:
        buffer = bytearray(6)
        first = stream.readinto(buffer)
        rest = stream.read()

    assert (first, bytes(buffer), rest) == (6, b"phone\n", b"+12025550143\n")
    assert stream.bytes_read == 19


def test_a_one_shot_503_is_retried_by_botocore(s3_reports):
    s3_reports.put(dated_key("2026-03-01"), b"phone\n")
    s3_reports.proxy.fault = once(Fault(503, "SlowDown", "Please reduce your request rate."))

    report = s3.dated_report(date(2026, 3, 1))

    assert report.key == dated_key("2026-03-01")
    statuses = [(r.operation, r.status) for r in s3_reports.requests]
    assert statuses[0] == ("ListObjectsV2", 503)
    assert statuses[1] == ("ListObjectsV2", 200)
    assert statuses[-1] == ("HeadObject", 200)


def test_proxy_relays_a_chunked_upload_and_drains_a_refused_one(s3_reports):
    parts = [b"+12025550143\n" * 10_000, b"+12025550144\n", b"+12025550145\n" * 5_000]
    connection = http.client.HTTPConnection("127.0.0.1", s3_reports.proxy.port, timeout=10)
    try:
        for key, headers in (
            (f"{US}/refused.csv", {}),
            (f"{US}/relayed.csv", {"x-amz-request-payer": "requester"}),
        ):
            # One connection for both: the refused body must be read off it, or the next request breaks.
            connection.request("PUT", f"/{s3_reports.bucket}/{key}", body=iter(parts), headers=headers)
            connection.getresponse().read()
    finally:
        connection.close()

    stored = s3_reports.client.get_object(Bucket=s3_reports.bucket, Key=f"{US}/relayed.csv")["Body"].read()
    assert stored == b"".join(parts)
    assert [(r.status, r.headers.get("transfer-encoding")) for r in s3_reports.requests] == [
        (403, "chunked"),
        (200, "chunked"),
    ]
