"""Carrier deactivation reports in AWS End User Messaging's requester-pays S3 bucket (signal 1).

The only module that imports boto3. The endpoint comes from boto3's own AWS_ENDPOINT_URL_S3 /
AWS_ENDPOINT_URL and the credentials from the standard chain; region and country from settings.
"""

import functools
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.loaders import create_loader

from django.conf import settings

from reports import sources

logger = logging.getLogger(__name__)

ROOT = "sms-deact-reports"
LATEST_NAME = "latest-deact-report.csv"
DATED_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})-deact-report\.csv", re.IGNORECASE)

# ListObjectsV2 page size; a module constant so a test can force several pages with a few keys.
LIST_PAGE_SIZE = 1000

# The bucket charges the reader: AWS refuses every call on it that does not accept the charge.
REQUESTER_PAYS = {"RequestPayer": "requester"}
# An AWS account id, as ExpectedBucketOwner takes it.
ACCOUNT_ID = re.compile(r"[0-9]{12}")

NOT_PUBLISHED_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "403", "AllAccessDisabled"})
# If-Match failed: the object was replaced after we resolved it, so that version is gone.
CHANGED_CODES = frozenset({"PreconditionFailed", "412"})
# S3 is busy or broken for now; botocore has already retried these a few times before we see them.
UNAVAILABLE_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling",
                               "ThrottlingException", "RequestLimitExceeded", "500", "502", "503", "504"})  # fmt: skip

CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=10,
    read_timeout=60,
)


class ReportNotPublished(sources.NotPublished):
    """The report is not in the bucket (yet): retry later."""


class ReportAccessDenied(sources.AccessDenied):
    """S3 refused access (credentials, policy or requester-pays): retrying will not help."""


class S3Unavailable(sources.Unavailable):
    """S3 kept failing (5xx, throttling, timeouts) or the connection broke mid-file: retry later."""


class ReportNotAsListed(sources.Refused):
    """S3 served a body other than the object it listed (more bytes, or no length at all): never applied."""


@dataclass(frozen=True)
class ReportObject:
    """One report file in the bucket, as resolved by list_reports(), dated_report() or latest()."""

    bucket: str
    key: str
    report_date: date
    etag: str
    size: int
    last_modified: datetime


def bucket_name() -> str:
    """The requester-pays bucket of the configured region."""
    return f"{_region()}-pinpoint-sms-voice"


def list_reports(*, since: date | None = None) -> list[ReportObject]:
    """Dated reports in the bucket (optionally from `since` on), oldest first."""
    reports = _dated(_listing())
    if since is not None:
        reports = [report for report in reports if report.report_date >= since]
    return reports


def default_key(day: date | None) -> str:
    """The key of a day's report (or of `latest` for None) as the configured country spells it."""
    return f"{_prefixes()[0]}{LATEST_NAME if day is None else f'{day.isoformat()}-deact-report.csv'}"


def dated_report(day: date) -> ReportObject:
    """The report for `day`, under the key the listing spells; ReportNotPublished if absent."""
    listed = {report.report_date: report.key for report in _dated(_listing())}
    key = listed.get(day, default_key(day))
    return _head(key, report_date=day)


def latest() -> ReportObject:
    """Today's latest-deact-report.csv, named after the dated report with the same ETag when there is one."""
    listing = _listing()
    key = next(
        (item["Key"] for item in listing if _name(item["Key"]).lower() == LATEST_NAME),
        default_key(None),
    )
    head = _head(key, report_date=None)
    match = _same_content(head, _dated(listing))
    if match is None:
        # The dated copy may have landed between our listing and the HEAD: look once more.
        match = _same_content(head, _dated(_listing()))
    if match is not None:
        # The same bytes are also published under a dated key: use that name, so the file
        # is applied once whether it is fetched as "latest" or by its date (R6).
        logger.info(
            "deact report latest resolved bucket=%s key=%s date=%s",
            match.bucket,
            match.key,
            match.report_date,
        )
        return match
    logger.info(
        "deact report latest unmatched bucket=%s key=%s etag=%s date=%s",
        head.bucket,
        head.key,
        head.etag,
        head.report_date,
    )
    return head


def open_report(obj: ReportObject) -> "CountingReader":
    """Stream the report's bytes, never more than were listed; ReportNotPublished if it changed or vanished
    since it was resolved, ReportNotAsListed if S3 offers more bytes than listed or does not say how many."""
    with _s3_errors(obj.bucket, obj.key):
        response = _client().get_object(
            Bucket=obj.bucket,
            Key=obj.key,
            # Read exactly the version that was resolved and recorded, not a newer upload.
            IfMatch=f'"{obj.etag}"',
            **_call_args(),
        )
    length = response.get("ContentLength")
    logger.info("deact report open bucket=%s key=%s size=%s listed=%d", obj.bucket, obj.key, length, obj.size)
    problem = None
    if length is None:
        problem = f"S3 sent s3://{obj.bucket}/{obj.key} without a Content-Length; a body of unknown size is not read"
    elif length != obj.size:
        more = "more" if length > obj.size else "fewer"
        problem = (
            f"S3 offered {more} bytes than listed for s3://{obj.bucket}/{obj.key} ({length} sent, {obj.size} listed)"
        )
    if problem is not None:
        response["Body"].close()
        logger.error("deact report refused bucket=%s key=%s reason=%r", obj.bucket, obj.key, problem)
        raise ReportNotAsListed(problem)
    return CountingReader(response["Body"], bucket=obj.bucket, key=obj.key, limit=obj.size)


class CountingReader(sources.BoundedReader):
    """A read-only binary file over a streamed S3 body that counts the bytes handed out, and refuses to hand
    out more than `limit` (the listed size): a longer body fails whole, never silently truncated."""

    def __init__(self, body: Any, *, bucket: str, key: str, limit: int) -> None:
        super().__init__(limit=limit)
        self._body = body
        self._bucket = bucket
        self._key = key

    def _read(self, size: int) -> bytes:
        try:
            return self._body.read(size)
        except BotoCoreError as exc:
            # A reset or a stall mid-body: botocore retries requests, never a body it has begun to hand out.
            logger.warning("deact report read broke off bucket=%s key=%s bytes_read=%d error=%s",
                           self._bucket, self._key, self.bytes_read, type(exc).__name__)  # fmt: skip
            raise S3Unavailable(
                f"reading s3://{self._bucket}/{self._key} broke off after {self.bytes_read} bytes ({exc})"
            ) from exc

    def _too_long(self) -> Exception:
        return ReportNotAsListed(f"s3://{self._bucket}/{self._key} holds more bytes than listed ({self._limit} listed)")

    def close(self) -> None:
        """Release the HTTP connection behind the body."""
        if not self.closed:
            self._body.close()
            logger.info("deact report closed bucket=%s key=%s bytes_read=%d", self._bucket, self._key, self.bytes_read)
        super().close()


def _region() -> str:
    return getattr(settings, "DEACT_REPORTS_REGION", "us-east-1")


def region_problem(region: str) -> str | None:
    """Why `region` cannot name the reports' bucket, or None. Any AWS partition's region-name pattern passes
    (botocore's own copy of AWS's list): a mistyped region names a bucket anyone could create."""
    if not any(pattern.fullmatch(region) for pattern, _ in _partitions()):
        return f"{region!r} is not an AWS region name (e.g. us-east-1)"
    return None


def region_is_known(region: str) -> bool:
    """Whether the installed botocore lists `region`; a new region may be missing from an older botocore."""
    return any(region in regions for _, regions in _partitions())


@functools.cache
def _partitions() -> list[tuple[re.Pattern[str], frozenset[str]]]:
    data = create_loader().load_data("partitions")
    # ASCII: AWS means [0-9] and [A-Za-z0-9_] by \d and \w, never a full-width digit.
    return [(re.compile(item["regionRegex"], re.ASCII), frozenset(item["regions"])) for item in data["partitions"]]


def bucket_owner_problem(owner: str) -> str | None:
    """Why `owner` is not an AWS account id for ExpectedBucketOwner, or None (unset is fine)."""
    if owner and not ACCOUNT_ID.fullmatch(owner):
        return f"{owner!r} is not an AWS account id (12 digits)"
    return None


def _call_args() -> dict[str, str]:
    """What every call on the bucket sends: the requester-pays consent, and the owner we expect when set."""
    owner = getattr(settings, "DEACT_REPORTS_BUCKET_OWNER", "")
    # S3 answers 403 when the bucket belongs to another account: a look-alike bucket is never read.
    return {**REQUESTER_PAYS, "ExpectedBucketOwner": owner} if owner else REQUESTER_PAYS


def _prefixes() -> list[str]:
    """The country folder as configured first, then in the other case."""
    country = getattr(settings, "DEACT_REPORTS_COUNTRY", "us")
    # S3 keys are case-sensitive and AWS's own examples spell the folder both "us/" and "US/".
    spellings = dict.fromkeys([country, country.lower(), country.upper()])
    return [f"{ROOT}/{spelling}/" for spelling in spellings]


_clients: dict[tuple[str | None, ...], Any] = {}
_clients_lock = threading.Lock()


def _client() -> Any:
    """One S3 client per process and endpoint/credential environment."""
    # Keyed by the environment boto3 reads, so a changed endpoint (tests) gets a new client.
    names = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE")
    cache_key = (_region(), *(os.environ.get(name) for name in names))
    with _clients_lock:
        if cache_key not in _clients:
            # A session of our own: boto3's default session is not safe to share across threads.
            _clients[cache_key] = boto3.session.Session().client("s3", region_name=_region(), config=CLIENT_CONFIG)
        return _clients[cache_key]


@contextmanager
def _s3_errors(bucket: str, key: str) -> Iterator[None]:
    """Turn S3's not-found and access-denied answers into this module's exceptions."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in NOT_PUBLISHED_CODES:
            raise ReportNotPublished(f"s3://{bucket}/{key} is not published") from exc
        if code in CHANGED_CODES:
            raise ReportNotPublished(f"s3://{bucket}/{key} changed since it was resolved") from exc
        if code in ACCESS_DENIED_CODES:
            logger.error("deact report access denied bucket=%s key=%s code=%s", bucket, key, code)
            raise ReportAccessDenied(f"access to s3://{bucket}/{key} denied ({code})") from exc
        if code in UNAVAILABLE_CODES:
            logger.warning("deact report s3 unavailable bucket=%s key=%s code=%s", bucket, key, code)
            raise S3Unavailable(f"S3 kept answering {code} for s3://{bucket}/{key}") from exc
        raise
    except NoCredentialsError as exc:
        # Nothing was even asked of S3; like a refusal, retrying will not help until someone configures them.
        logger.error("deact report no credentials bucket=%s key=%s", bucket, key)
        raise ReportAccessDenied(f"no AWS credentials to read s3://{bucket}/{key} ({exc})") from exc
    except BotoCoreError as exc:
        # Unreachable or timing out through all of botocore's own retries.
        logger.warning("deact report s3 unreachable bucket=%s key=%s error=%s", bucket, key, type(exc).__name__)
        raise S3Unavailable(f"S3 did not answer for s3://{bucket}/{key} ({exc})") from exc


def _listing() -> list[dict[str, Any]]:
    """Every object under the country folder, in each spelling of it that exists."""
    bucket = bucket_name()
    paginator = _client().get_paginator("list_objects_v2")
    items: list[dict[str, Any]] = []
    for index, prefix in enumerate(_prefixes()):
        try:
            with _s3_errors(bucket, prefix):
                pages = paginator.paginate(
                    Bucket=bucket,
                    Prefix=prefix,
                    PaginationConfig={"PageSize": LIST_PAGE_SIZE},
                    **_call_args(),
                )
                for page in pages:
                    items.extend(page.get("Contents", []))
        except ReportAccessDenied:
            # Listing is granted for the configured spelling; the other one is only a fallback.
            if index == 0:
                raise
            logger.info("deact report listing denied bucket=%s prefix=%s", bucket, prefix)
    logger.info("deact report listed bucket=%s prefixes=%s objects=%d", bucket, ",".join(_prefixes()), len(items))
    return items


def _dated(listing: list[dict[str, Any]]) -> list[ReportObject]:
    """The dated reports of a listing, one per day, oldest first."""
    bucket = bucket_name()
    by_day: dict[date, ReportObject] = {}
    for item in listing:
        match = DATED_NAME.fullmatch(_name(item["Key"]))
        if match is None:
            continue
        try:
            day = date(*(int(part) for part in match.groups()))
        except ValueError:
            logger.warning("deact report bad date in key bucket=%s key=%s", bucket, item["Key"])
            continue
        if day in by_day:
            # Both spellings of the folder hold this day: keep the first (configured) one.
            logger.warning("deact report duplicate day bucket=%s key=%s kept=%s", bucket, item["Key"], by_day[day].key)
            continue
        by_day[day] = ReportObject(
            bucket=bucket,
            key=item["Key"],
            report_date=day,
            etag=_etag(item["ETag"]),
            size=int(item["Size"]),
            last_modified=item["LastModified"].astimezone(timezone.utc),
        )
    return [by_day[day] for day in sorted(by_day)]


def _head(key: str, *, report_date: date | None) -> ReportObject:
    """HeadObject `key`; without a report date, the day it was last modified (UTC) stands in."""
    bucket = bucket_name()
    with _s3_errors(bucket, key):
        head = _client().head_object(Bucket=bucket, Key=key, **_call_args())
    last_modified = head["LastModified"].astimezone(timezone.utc)
    return ReportObject(
        bucket=bucket,
        key=key,
        report_date=report_date or last_modified.date(),
        etag=_etag(head["ETag"]),
        size=int(head["ContentLength"]),
        last_modified=last_modified,
    )


def _same_content(head: ReportObject, dated: list[ReportObject]) -> ReportObject | None:
    """The newest dated report with the same ETag as `head`, if any."""
    matches = [report for report in dated if report.etag == head.etag]
    return matches[-1] if matches else None


def _name(key: str) -> str:
    """The key below its country folder, so deeper folders never pass for a report."""
    return key.split("/", 2)[-1]


def _etag(value: str) -> str:
    # S3 quotes ETags in headers and listings alike; store them bare.
    return value.strip('"')
