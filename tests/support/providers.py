"""Stand-ins for the HTTP deactivation sources, on loopback ports, threaded (issue 18).

`TwilioStandIn` plays Twilio's Deactivations API (basic auth, JSON `redirect_to` or a 307) and the other host
that serves the signed, expiring file URLs. `FeedStandIn` plays a provider that serves a day's file at a URL of
that day behind a header key. Both record every request and ask a settable list of faults first, so a test can
answer with any status, reset the connection, cut a body short or send one without a length.
"""

import base64
import hashlib
import hmac
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-token-6f1d2c9e8b7a"  # what must never be written anywhere (issue 18)
FEED_KEY = "feed-key-41c7d0e2a9"
FIRST_DAY = date(2020, 8, 27)
WRITE_CHUNK = 64 * 1024


@dataclass
class Seen:
    """One request as a stand-in received it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lowercased
    host: str
    status: int | None = None  # what it was answered; None for a reset before any answer

    def arg(self, name: str) -> str:
        return self.query.get(name, [""])[0]


@dataclass
class Reply:
    """An answer: a status, headers and a body; `reset_after` drops the connection with a TCP reset after that
    many body bytes (0: before any answer); `length` overrides Content-Length (a body cut short), `chunked` sends
    it chunked, without any length."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reset_after: int | None = None
    length: int | None = None
    chunked: bool = False


def json_reply(status: int, data: dict) -> Reply:
    return Reply(status, json.dumps(data).encode(), {"Content-Type": "application/json"})


Fault = Callable[[Seen], Reply | None]


def times(count: int, reply: Reply, *, when: Callable[[Seen], bool] = lambda seen: True) -> Fault:
    """A fault that answers the first `count` matching requests with `reply`, then lets them through."""
    left = [count]
    lock = threading.Lock()

    def fault(seen: Seen) -> Reply | None:
        with lock:
            if left[0] <= 0 or not when(seen):
                return None
            left[0] -= 1
            return reply

    return fault


class StandIn:
    """A threaded HTTP server on a loopback address; subclasses answer in `answer`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.seen: list[Seen] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), _Handler)
        self._server.daemon_threads = True
        self._server.stand_in = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reply_to(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
        reply = next((reply for fault in list(self.faults) if (reply := fault(seen)) is not None), None)
        reply = reply or self.answer(seen)
        seen.status = None if reply.reset_after == 0 else reply.status
        return reply

    def answer(self, seen: Seen) -> Reply:
        raise NotImplementedError

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()
        self.faults.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        stand_in: StandIn = self.server.stand_in  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        seen = Seen(url.path, parse_qs(url.query, keep_blank_values=True), headers, self.headers.get("Host", ""))
        reply = stand_in.reply_to(seen)
        try:
            self._send(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _send(self, reply: Reply) -> None:
        if reply.reset_after == 0:
            self._reset()
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(reply.length if reply.length is not None else len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        body = memoryview(reply.body)
        if reply.reset_after is not None:
            body = body[: reply.reset_after]
        for start in range(0, len(body), WRITE_CHUNK):
            part = body[start : start + WRITE_CHUNK]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if reply.chunked else part)
        if reply.reset_after is not None:
            self._reset()
        elif reply.chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _reset(self) -> None:
        self.wfile.flush()
        # A TCP reset rather than a clean close: the way a connection dies mid-answer.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: `seen` is the record."""


class FileHost(StandIn):
    """The other host behind Twilio's signed URLs: /files/<day>?Expires=…&Signature=…, refused once expired."""

    def __init__(self) -> None:
        super().__init__("127.0.0.2")  # another host than the API's, as Twilio's file store is
        self.files: dict[date, bytes] = {}
        self.secret = b"signing-secret"
        self.valid_seconds = 120.0
        self.expire_next = 0  # how many of the next URLs signed have expired by the time they are used

    def sign(self, day: date) -> str:
        valid = self.valid_seconds
        if self.expire_next > 0:
            self.expire_next -= 1
            valid = -1.0
        expires = f"{time.time() + valid:.3f}"
        return f"{self.url}/files/{day}?Expires={expires}&Signature={self._signature(str(day), expires)}"

    def _signature(self, day: str, expires: str) -> str:
        digest = hmac.new(self.secret, f"{day}:{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")  # mostly letters, as real signatures are

    def answer(self, seen: Seen) -> Reply:
        day_text = seen.path.removeprefix("/files/")
        expires, signature = seen.arg("Expires"), seen.arg("Signature")
        if not hmac.compare_digest(signature, self._signature(day_text, expires)):
            return Reply(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
        if float(expires) < time.time():
            return Reply(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        body = self.files.get(date.fromisoformat(day_text))
        if body is None:
            return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
        return Reply(200, body, {"Content-Type": "text/plain"})

    def signatures(self) -> list[str]:
        return [seen.arg("Signature") for seen in self.seen if seen.arg("Signature")]


class TwilioStandIn(StandIn):
    """Twilio's Deactivations API: basic auth, a day's signed URL as JSON `redirect_to` (or a 307 to it)."""

    def __init__(self) -> None:
        super().__init__()
        self.file_host = FileHost()
        self.redirect_with_307 = False

    def publish(self, day: date, body: bytes) -> None:
        self.file_host.files[day] = body

    def answer(self, seen: Seen) -> Reply:
        if seen.path != "/v1/Deactivations":
            return json_reply(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if seen.headers.get("authorization") != expected:
            return json_reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        try:
            day = date.fromisoformat(seen.arg("Date"))
        except ValueError:
            return json_reply(400, {"code": 21608, "message": "Date must be in YYYY-MM-DD format", "status": 400})
        if day < FIRST_DAY:
            return json_reply(400, {"code": 21608, "message": f"Date must be on or after {FIRST_DAY}", "status": 400})
        if day not in self.file_host.files:
            return json_reply(404, {"code": 20404, "message": f"No deactivations file for {day}", "status": 404})
        signed = self.file_host.sign(day)
        if self.redirect_with_307:
            return Reply(307, b"", {"Location": signed})
        return json_reply(200, {"redirect_to": signed})

    def api_calls(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == "/v1/Deactivations"]

    def reset(self) -> None:
        super().reset()
        self.file_host.reset()

    def close(self) -> None:
        super().close()
        self.file_host.close()


class FeedStandIn(StandIn):
    """A provider serving a day's file at /deactivated_phone_numbers?date=D behind an X-AUTH-TOKEN key."""

    PATH = "/deactivated_phone_numbers"

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[date, bytes] = {}

    @property
    def template(self) -> str:
        return f"{self.url}{self.PATH}?date={{date}}&format=txt"

    def answer(self, seen: Seen) -> Reply:
        if seen.headers.get("x-auth-token") != FEED_KEY:
            return Reply(401, b"Unauthorized: missing or wrong X-AUTH-TOKEN")
        if seen.path != self.PATH:
            return Reply(404, b"Not Found")
        try:
            day = date.fromisoformat(seen.arg("date"))
        except ValueError:
            return Reply(400, b"date must be YYYY-MM-DD")
        if day not in self.files:
            return Reply(404, b"Not Found")
        return Reply(200, self.files[day], {"Content-Type": "application/octet-stream"})

    def days_asked(self) -> list[str]:
        return [seen.arg("date") for seen in self.seen]


@contextmanager
def _running(stand_in: StandIn) -> Iterator[StandIn]:
    try:
        yield stand_in
    finally:
        stand_in.close()


@pytest.fixture(scope="session")
def _twilio_server() -> Iterator[TwilioStandIn]:
    with _running(TwilioStandIn()) as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="session")
def _feed_server() -> Iterator[FeedStandIn]:
    with _running(FeedStandIn()) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def twilio(_twilio_server, settings, monkeypatch) -> Iterator[TwilioStandIn]:
    """Twilio's API on loopback, configured as the twilio source, with the retry pauses taken out."""
    from reports.sources import web

    settings.TWILIO_API_BASE_URL = _twilio_server.url
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = SID, TOKEN
    monkeypatch.setattr(web, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    _twilio_server.reset()
    _twilio_server.file_host.files.clear()
    _twilio_server.file_host.valid_seconds = 120.0
    _twilio_server.file_host.expire_next = 0
    _twilio_server.redirect_with_307 = False
    yield _twilio_server
    _twilio_server.reset()


@pytest.fixture
def feed(_feed_server, settings, monkeypatch) -> Iterator[FeedStandIn]:
    """An HTTP feed on loopback, configured as the http source (DEACT_HTTP_URL and its key header)."""
    from reports.sources import web

    settings.DEACT_HTTP_URL = _feed_server.template
    settings.DEACT_HTTP_HEADERS = f"X-AUTH-TOKEN={FEED_KEY}, Accept=text/plain"
    settings.DEACT_HTTP_DAYS_KEPT = 30
    monkeypatch.setattr(web, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    _feed_server.reset()
    _feed_server.files.clear()
    yield _feed_server
    _feed_server.reset()
