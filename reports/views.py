"""The signal intake API: signed JSON batches of delivery receipts and carrier notices, machine to machine.

A request is signed with HMAC-SHA256 over `{timestamp}.{METHOD}.{path}.{raw body}` using the shared
SIGNAL_API_SECRET — the method and path too, so a signature made for one endpoint never works on another — and
refused when its timestamp is more than five minutes off or its signature was accepted before (a replay).
The body is read from the stream with our own limit — never more than limit + 1 bytes, refused on
Content-Length before reading anything — because Django's DATA_UPLOAD_MAX_MEMORY_SIZE guards only
`request.body`, which this view never touches.
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from contacts.guard import Held
from reports import alerts
from reports.intake import SignalIntake
from reports.models import Channel, UsedSignature
from reports.notices import NoticeIntake
from reports.receipts import ReceiptIntake

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024  # 10,000 items of a few hundred bytes each, with room to spare
MAX_ITEMS = 10_000
SIGNATURE_WINDOW = 300  # seconds a signed request stays valid
READ_CHUNK = 64 * 1024
SIGNATURE_PREFIX = "sha256="
# Unix seconds have 10 digits until the year 2286; a longer "timestamp" is refused before it is read as a number.
TIMESTAMP_DIGITS = 12


class Refused(Exception):
    """The request as a whole is refused; nothing was recorded."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyReader:
    """The raw body, at most `limit` bytes of it; a bigger one is refused having read at most limit + 1."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        self.request = request
        self.limit = limit
        self.bytes_read = 0

    def refuse_declared_oversize(self) -> None:
        declared = self.request.META.get("CONTENT_LENGTH") or ""
        if not declared:
            return
        try:
            size = int(declared)
        except ValueError:
            raise Refused(400, "Content-Length is not a number") from None
        if size > self.limit:
            raise Refused(413, f"the body is larger than {self.limit} bytes; send fewer items per request")

    def read(self) -> bytes:
        stream = self.request
        meta = self.request.META
        if not meta.get("CONTENT_LENGTH") and meta.get("wsgi.input_terminated"):
            # A chunked body: the server (gunicorn, mod_wsgi) ends the stream itself, while Django's own
            # stream reads nothing without a Content-Length. The limit below still bounds what we take.
            stream = meta["wsgi.input"]
        chunks = []
        while self.bytes_read <= self.limit:
            chunk = stream.read(min(READ_CHUNK, self.limit + 1 - self.bytes_read))
            if not chunk:
                break
            chunks.append(chunk)
            self.bytes_read += len(chunk)
        if self.bytes_read > self.limit:
            raise Refused(413, f"the body is larger than {self.limit} bytes; send fewer items per request")
        return b"".join(chunks)


def signature_headers(request: HttpRequest) -> tuple[str, str]:
    """The signed timestamp and the signature; refused before the body is read when missing or stale."""
    signature = request.headers.get("X-Signature", "")
    timestamp = request.headers.get("X-Signature-Timestamp", "")
    if not signature.startswith(SIGNATURE_PREFIX):
        raise Refused(401, "missing or malformed X-Signature (expected sha256=<hex HMAC-SHA256>)")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= TIMESTAMP_DIGITS):
        raise Refused(401, "missing or malformed X-Signature-Timestamp (expected Unix seconds)")
    if abs(time.time() - int(timestamp)) > SIGNATURE_WINDOW:
        raise Refused(401, "X-Signature-Timestamp is more than 5 minutes off: sign the request again")
    return timestamp, signature.removeprefix(SIGNATURE_PREFIX)


def expected_signature(secret: str, *, timestamp: str, method: str, path: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `{timestamp}.{METHOD}.{path}.{raw body}`: the one signing scheme of the API."""
    message = f"{timestamp}.{method.upper()}.{path}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, request: HttpRequest, timestamp: str, body: bytes, signature: str) -> str:
    """The signature's digest, once it matches this method, path and body."""
    # The path as requested, without the query string: what a client puts on its request line.
    expected = expected_signature(secret, timestamp=timestamp, method=request.method, path=request.path, body=body)
    # Bytes on both sides: compare_digest refuses non-ASCII text, and a header may carry some.
    if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
        raise Refused(401, "the signature does not match the method, path and body")
    return expected


def refuse_replay(digest: str, timestamp: str) -> None:
    """Accept each signature once; it is remembered until its timestamp would be refused as stale anyway."""
    expires_at = datetime.fromtimestamp(int(timestamp) + SIGNATURE_WINDOW, UTC)
    if not UsedSignature.claim(digest, expires_at=expires_at, now=datetime.now(UTC)):
        raise Refused(401, "this signature was used before: sign each request anew")


def batch_items(body: bytes, key: str) -> list:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "the body is not valid JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        raise Refused(400, f'expected a JSON object {{"{key}": [...]}}')
    items = payload[key]
    if len(items) > MAX_ITEMS:
        raise Refused(413, f"at most {MAX_ITEMS} {key} per request")
    return items


def signed_body(request: HttpRequest, reader: BodyReader) -> tuple[bytes, str, str]:
    """Check, in order of cost, everything that refuses a signed request as a whole; (body, digest, timestamp).

    Every signed endpoint comes through here, so they share one signing scheme."""
    secret = settings.SIGNAL_API_SECRET
    if not secret:
        raise Refused(503, "not configured: the server has no SIGNAL_API_SECRET")
    reader.refuse_declared_oversize()
    if request.content_type.lower() != "application/json":
        raise Refused(415, "send the batch as application/json")
    timestamp, signature = signature_headers(request)
    body = reader.read()
    return body, verify(secret, request, timestamp, body, signature), timestamp


def intake(request: HttpRequest, key: str, intake_class: type[SignalIntake]) -> JsonResponse:
    """Refuse the request as a whole when it must be (signed_body); then record the batch."""
    reader = BodyReader(request, MAX_BODY_BYTES)
    try:
        body, digest, timestamp = signed_body(request, reader)
        items = batch_items(body, key)
        # One transaction for the claim and the batch: a batch that fails to apply leaves the signature unused.
        with transaction.atomic():
            refuse_replay(digest, timestamp)
            try:
                result = intake_class(channel=Channel.API).ingest_items(items)
            except Held as held:  # R14: the whole batch rolled back, its signature unused; smaller batches pass
                alerts.send("a signal API batch was held by the mass opt-out guard", [str(held)], event="api_held",
                            path=request.path, items=len(items))  # fmt: skip
                raise Refused(409, f"{held}; nothing was recorded") from None
    except Refused as refused:
        log.warning(
            "signal api refused path=%s status=%d bytes_read=%d reason=%r",
            request.path, refused.status, reader.bytes_read, refused.message,
        )  # fmt: skip
        return JsonResponse({"error": refused.message}, status=refused.status)
    counts = {"accepted": result.accepted, "duplicates": result.duplicates, "invalid": result.invalid,
              "rejected": result.rejected}  # fmt: skip
    return JsonResponse({**counts, "results": result.items}, status=202)


@csrf_exempt  # a machine endpoint: the signature authenticates it, there is no browser session
@require_POST
def receipts(request: HttpRequest) -> JsonResponse:
    """Record and apply a signed batch of delivery receipts: {"receipts": [...]}."""
    return intake(request, "receipts", ReceiptIntake)


@csrf_exempt  # a machine endpoint: the signature authenticates it, there is no browser session
@require_POST
def carrier_notices(request: HttpRequest) -> JsonResponse:
    """Record and apply a signed batch of carrier notices: {"notices": [...]}."""
    return intake(request, "notices", NoticeIntake)
