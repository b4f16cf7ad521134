"""HTTP for the sources that fetch one file a day (Twilio, an HTTP feed), on the standard library alone.

Requests are plain GETs. A 5xx, a 429 or a broken connection is tried again a few times with a growing pause;
401/403 are answered after one request. Redirects are followed by hand so credentials never travel to another
origin. Bodies stream through a reader that refuses more than UPLOAD_MAX_MB and notices a body cut short.
URLs are shown without credentials and without query values (a signed URL's signature is a credential), and
every error we raise is our own sentence, raised `from None`, so no library message can quote a URL or a secret.
"""

import http.client
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from django.conf import settings

from contacts.phones import masked_text
from reports import sources

log = logging.getLogger(__name__)

# Pauses before the second, third and fourth try of a request that failed for now; a module constant, so tests
# can take the pauses out. A Retry-After the server sends is honoured up to MAX_RETRY_AFTER.
RETRY_DELAYS = (2.0, 8.0, 30.0)
MAX_RETRY_AFTER = 60.0
TIMEOUT = 60  # seconds for the connection and for each read
MAX_REDIRECTS = 5
SMALL_BODY_BYTES = 64 * 1024  # a JSON answer or an error page: read whole, up to this much
SHOWN_MESSAGE_CHARS = 300
SIGNATURE_CHARS = 16  # a query value this long may be a signature or a key: never quoted back from an answer
REDIRECTS = frozenset({301, 302, 303, 307, 308})
RETRIED = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "smsprogram (deactivation reports)"

_opener = urllib.request.OpenerDirector()
# No error processor and no redirect handler: every status comes back as a response to decide on here. Only
# http(s): urllib's file:, ftp: and data: handlers are never installed, so a URL from a provider reads no file.
for _handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler()):
    _opener.add_handler(_handler)
_opener.addheaders = [("User-Agent", USER_AGENT)]


def shown_url(url: str, *, keep: Iterable[str] = ()) -> str:
    """The URL as messages, logs and report rows may show it: no user:password, query values hidden except the
    parameters named in `keep` (a date); a URL too broken to read is not shown at all."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    kept = set(keep)
    query = ""
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = "?" + "&".join(f"{name}={value if name in kept else '…'}" for name, value in pairs) if kept else "?…"
    return f"{parts.scheme}://{host}{port}{parts.path}{query}"


def same_origin(one: str, other: str) -> bool:
    a, b = urlsplit(one), urlsplit(other)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


class Answer:
    """A response whose status was not retried: the caller reads it or closes it."""

    def __init__(self, response: Any, url: str, shown: str) -> None:
        self.response = response
        self.status: int = response.status
        self.reason: str = response.reason or ""
        self.headers: Message = response.headers
        self.url = url
        self.shown = shown

    def text(self, *, secrets: Iterable[str] = ()) -> str:
        """The start of a small body (a JSON error or an error page) as a message fit to show: its JSON `message`
        (or `detail`, `error`) when it has one, numbers masked (R12), our secrets removed, cut short."""
        try:
            raw = self.response.read(SMALL_BODY_BYTES)
        except (OSError, http.client.HTTPException):
            raw = b""
        finally:
            self.close()
        text = raw.decode("utf-8", "replace").strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            text = next((str(data[key]) for key in ("message", "detail", "error") if data.get(key)), text)
        text = " ".join(text.split())
        # A provider may quote the request back: our secrets, and any long query value (a signature), go.
        signed = [value for _, value in parse_qsl(urlsplit(self.url).query) if len(value) >= SIGNATURE_CHARS]
        for secret in sorted({*secrets, *signed}, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "…")
        return masked_text(text)[:SHOWN_MESSAGE_CHARS]

    def json(self, *, what: str) -> dict:
        """A small JSON object body; Refused when it is anything else."""
        try:
            raw = self.response.read(SMALL_BODY_BYTES + 1)
        except (OSError, http.client.HTTPException):
            raise sources.Unavailable(f"{what} broke off while answering at {self.shown}") from None
        finally:
            self.close()
        if len(raw) > SMALL_BODY_BYTES:
            raise sources.Refused(f"{what} answered more than {SMALL_BODY_BYTES // 1024} KB of JSON at {self.shown}")
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise sources.Refused(f"{what} did not answer with a JSON object at {self.shown}")
        return data

    def close(self) -> None:
        self.response.close()


def get(url: str, *, headers: dict[str, str], what: str, shown: str, follow: bool = True) -> Answer:
    """GET `url`, following redirects (headers only to the same origin) unless `follow` is off; a 5xx, 429 or
    broken connection is tried again after each of RETRY_DELAYS, then Unavailable. Any other status is returned."""
    start = url
    for _ in range(MAX_REDIRECTS + 1):
        answer = _get_with_retries(url, headers=headers if same_origin(url, start) else {}, what=what, shown=shown)
        if not follow or answer.status not in REDIRECTS:
            return answer
        location = answer.headers.get("Location", "")
        answer.close()
        if not location:
            raise sources.Refused(f"{what} redirected without a Location at {shown}")
        url = urljoin(url, location)
        check_scheme(url, what=what)
        shown = shown_url(url)
        log.info("deact http redirected what=%s to=%s", what, shown)
    raise sources.Refused(f"{what} redirected more than {MAX_REDIRECTS} times from {shown_url(start)}")


def check_scheme(url: str, *, what: str) -> None:
    if urlsplit(url).scheme not in ("http", "https"):
        raise sources.Refused(f"{what} gave a URL that is not http(s): {shown_url(url)}")


def _get_with_retries(url: str, *, headers: dict[str, str], what: str, shown: str) -> Answer:
    check_scheme(url, what=what)
    request = urllib.request.Request(url, headers=headers, method="GET")
    tries = len(RETRY_DELAYS) + 1
    for attempt in range(1, tries + 1):
        problem, wait = "", 0.0
        try:
            response = _opener.open(request, timeout=TIMEOUT)
        except ValueError:
            raise sources.Refused(f"{what}: not a URL that can be fetched: {shown}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise sources.Refused(f"{what}: the TLS certificate of {shown} is not trusted") from None
            problem = f"no answer ({type(reason).__name__})"
        else:
            if response.status not in RETRIED:
                log.info("deact http answered what=%s url=%s status=%d attempt=%d", what, shown, response.status,
                         attempt)  # fmt: skip
                return Answer(response, url, shown)
            problem = f"{response.status} {response.reason}"
            wait = _retry_after(response.headers.get("Retry-After"))
            response.close()
        log.warning("deact http failed for now what=%s url=%s problem=%s attempt=%d of %d", what, shown, problem,
                    attempt, tries)  # fmt: skip
        if attempt < tries:
            time.sleep(max(wait, RETRY_DELAYS[attempt - 1]) if wait else RETRY_DELAYS[attempt - 1])
    raise sources.Unavailable(f"{what} kept failing at {shown}: {problem} after {tries} tries")


def _retry_after(value: str | None) -> float:
    try:
        return min(float(value), MAX_RETRY_AFTER) if value else 0.0
    except ValueError:
        return 0.0  # an HTTP date: our own pauses will do


def body(answer: Answer, *, what: str) -> "Body":
    """The answer's body as a file, refused up front when it declares more than UPLOAD_MAX_MB."""
    limit = settings.UPLOAD_MAX_MB * 1024 * 1024
    declared = answer.headers.get("Content-Length")
    length = int(declared) if declared and declared.isdigit() else None
    if length is not None and length > limit:
        answer.close()
        raise sources.Refused(_too_large(what, answer.shown))
    return Body(answer, limit=limit, length=length, what=what)


def _too_large(what: str, shown: str) -> str:
    return (f"{what} at {shown} is larger than the upload limit of {settings.UPLOAD_MAX_MB} MB (UPLOAD_MAX_MB); "
            "nothing was applied")  # fmt: skip


class Body(sources.BoundedReader):
    """A read-only file over a streamed HTTP body: counts what it hands out, refuses more than `limit`, and
    fails a body that ends before its Content-Length (http.client returns a short body without a word)."""

    def __init__(self, answer: Answer, *, limit: int, length: int | None, what: str) -> None:
        super().__init__(limit=limit)
        self._answer = answer
        self._length = length
        self._what = what

    def _read(self, size: int) -> bytes:
        try:
            data = self._answer.response.read(size)
        except (OSError, http.client.HTTPException) as exc:
            raise self._broke_off(type(exc).__name__) from None
        if not data and self._length is not None and self.bytes_read < self._length:
            raise self._broke_off(f"{self.bytes_read} of {self._length} bytes")
        return data

    def _too_long(self) -> Exception:
        return sources.Refused(_too_large(self._what, self._answer.shown))

    def _broke_off(self, detail: str) -> sources.Unavailable:
        log.warning("deact http body broke off what=%s url=%s bytes_read=%d detail=%s", self._what,
                    self._answer.shown, self.bytes_read, detail)  # fmt: skip
        return sources.Unavailable(
            f"{self._what} at {self._answer.shown} broke off after {self.bytes_read} bytes ({detail})"
        )

    def close(self) -> None:
        if not self.closed:
            self._answer.close()
            log.info("deact http body closed what=%s url=%s bytes_read=%d", self._what, self._answer.shown,
                     self.bytes_read)  # fmt: skip
        super().close()


NOT_READY_WORDS = ("not ready", "not yet available", "not available yet", "not yet published", "not published yet")


def refusal(answer: Answer, *, label: str, day, secrets: Iterable[str] = ()) -> Exception | None:
    """None for a 2xx answer; else the error that names it (the answer is then closed): 401/403 the credentials,
    404 or the provider's "not ready" a day not published yet, 400 the provider's own reason (a date out of its
    range), anything else its status and message."""
    if 200 <= answer.status < 300 and answer.status != 202:
        return None
    status = f"{answer.status} {answer.reason}".strip()
    message = answer.text(secrets=secrets)
    said = f": {message}" if message else ""
    if answer.status in (401, 403):
        return sources.AccessDenied(f"{label} refused the credentials ({status}{said}) at {answer.shown}")
    if answer.status in (202, 404) or any(words in message.lower() for words in NOT_READY_WORDS):
        return sources.NotReady(f"not ready: {label} has not published {day} yet ({status}{said}) at {answer.shown}")
    if answer.status == 400:
        return sources.Refused(f"{label} refused {day} ({status}{said}) at {answer.shown}")
    return sources.Refused(f"{label} answered {status}{said} at {answer.shown}")
