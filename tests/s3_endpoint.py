"""An S3 endpoint over real HTTP for tests: moto's standalone server behind a checking proxy.

moto accepts but ignores RequestPayer, so the proxy in front of it plays AWS's part for
requester-pays buckets (`*-pinpoint-sms-voice`): a request without `x-amz-request-payer:
requester` gets S3's 403 AccessDenied, and so does one whose `x-amz-expected-bucket-owner`
names another account than the bucket's (moto's one account). The proxy records every request,
streams bodies both ways, and asks its settable `fault` hook first, so a test can inject failures.
"""

import http.client
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

REQUESTER_PAYS_SUFFIX = "-pinpoint-sms-voice"
BUCKET_OWNER = "123456789012"  # the account moto creates every bucket in
CHUNK = 64 * 1024

# Per-connection headers that must not be passed through to the next hop (RFC 9110 §7.6.1);
# Expect is answered by the proxy itself; the framing is redone on each side.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect",
                        "transfer-encoding"})  # fmt: skip


class EndpointUnavailable(Exception):
    """The moto server could not be started."""


@dataclass
class RecordedRequest:
    """One request as the proxy saw it, and the status it answered with."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    bucket: str | None
    key: str | None
    status: int | None = None

    @property
    def operation(self) -> str:
        """The S3 API operation, as far as these tests need to tell them apart."""
        if self.key:
            names = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}
            return names.get(self.method, f"{self.method} object")
        if self.bucket and self.method == "GET" and self.query.get("list-type") == ["2"]:
            return "ListObjectsV2"
        return f"{self.method} bucket" if self.bucket else f"{self.method} service"


@dataclass(frozen=True)
class Fault:
    """What the proxy does to a request instead of forwarding it as is.

    With a status, it answers with that S3 error; with status 0 it forwards the request. Either way it
    first waits `delay` seconds (a slow S3), and a forwarded answer can be cut off by a TCP reset once
    `reset_after` bytes of its body went out (a connection dropped mid-body). A forwarded answer can also
    carry `body` instead of upstream's (a server that lies about the object), framed by its own
    Content-Length, or `chunked` without any.
    """

    status: int = 0
    code: str = ""
    message: str = "injected by the test proxy"
    delay: float = 0.0
    reset_after: int | None = None
    body: bytes | None = None
    chunked: bool = False


# Asked before every request is forwarded: a Fault to act out, or None to forward it untouched.
FaultHook = Callable[[RecordedRequest], Fault | None]


def once(fault: Fault, *, when: Callable[[RecordedRequest], bool] = lambda request: True) -> FaultHook:
    """A hook that answers the first request matching `when` with `fault`, then forwards all."""
    fired = False
    lock = threading.Lock()  # the proxy asks from one thread per connection

    def hook(request: RecordedRequest) -> Fault | None:
        nonlocal fired
        with lock:
            if fired or not when(request):
                return None
            fired = True
            return fault

    return hook


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MotoServer:
    """moto's standalone server as a child process on a loopback port."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, log: Path, *, timeout: float = 30) -> "MotoServer":
        """Start `python -m moto.server` and wait until it answers HTTP; EndpointUnavailable if not."""
        port = free_port()
        with open(log, "wb") as out:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            except OSError as exc:
                raise EndpointUnavailable(f"moto server could not be run: {exc}") from exc
        server = cls(process, port, log)
        deadline = time.monotonic() + timeout
        while not server.answers():
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise EndpointUnavailable(f"moto server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        return server

    def answers(self) -> bool:
        """True once the server responds to a plain GET."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/moto-api/")
            connection.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            connection.close()

    def stop(self) -> None:
        """Terminate the process, killing it if it lingers."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class S3Proxy:
    """A threaded reverse proxy on a loopback port, in front of an S3 endpoint."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.fault: FaultHook | None = None
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="s3-proxy", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def reset(self) -> None:
        """Forget recorded requests and remove any fault."""
        with self._lock:
            self.requests.clear()
        self.fault = None

    def refusal(self, request: RecordedRequest) -> Fault | None:
        """What the proxy answers instead of forwarding: an injected fault, or AWS's requester-pays 403."""
        fault = self.fault(request) if self.fault else None
        if fault is not None:
            return fault
        requester_pays = (request.bucket or "").endswith(REQUESTER_PAYS_SUFFIX)
        if requester_pays and request.headers.get("x-amz-request-payer", "").lower() != "requester":
            return Fault(403, "AccessDenied", "Access Denied")
        if request.headers.get("x-amz-expected-bucket-owner", BUCKET_OWNER) != BUCKET_OWNER:
            return Fault(403, "AccessDenied", "Access Denied")
        return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _ProxyHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 so botocore keeps its connections alive and bodies can be chunked.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle and delayed ACKs
    # hold every answer back by tens of milliseconds.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        proxy: S3Proxy = self.server.proxy  # type: ignore[attr-defined]
        request = self._recorded()
        proxy.record(request)
        try:
            refusal = proxy.refusal(request)
            if refusal is not None and refusal.delay:
                time.sleep(refusal.delay)
            if refusal is not None and refusal.status:
                self._discard_body()
                self._send_error(request, refusal)
            else:
                self._forward(request, proxy.upstream_port, refusal or Fault())
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up (e.g. it closed a body early): nothing left to answer.
            self.close_connection = True

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request log is the record."""

    def _recorded(self) -> RecordedRequest:
        url = urlsplit(self.path)
        # botocore addresses an IP endpoint path-style: /bucket/key.
        bucket, _, key = url.path.lstrip("/").partition("/")
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return RecordedRequest(
            method=self.command,
            path=unquote(url.path),
            query=parse_qs(url.query, keep_blank_values=True),
            headers=headers,
            bucket=unquote(bucket) or None,
            key=unquote(key) or None,
        )

    def _request_is_chunked(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _discard_body(self) -> None:
        """Read the request body we will not forward, so the connection stays usable."""
        if self._request_is_chunked():
            self._relay_chunked(lambda data: None)
        else:
            self._relay_exact(int(self.headers.get("Content-Length") or 0), lambda data: None)

    def _relay_exact(self, length: int, send: Callable[[bytes], object]) -> None:
        while length > 0:
            data = self.rfile.read(min(CHUNK, length))
            if not data:
                raise ConnectionResetError("request body ended early")
            send(data)
            length -= len(data)

    def _relay_chunked(self, send: Callable[[bytes], object]) -> None:
        """Pass a chunked body through frame by frame, trailers included."""
        while True:
            line = self.rfile.readline(CHUNK)
            send(line)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                break
            self._relay_exact(size + 2, send)  # the data and its CRLF
        while True:
            trailer = self.rfile.readline(CHUNK)
            send(trailer)
            if trailer in (b"\r\n", b"\n", b""):
                return

    def _send_error(self, request: RecordedRequest, fault: Fault) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(fault.code)}</Code><Message>{escape(fault.message)}</Message>"
            f"<RequestId>TESTPROXY</RequestId><HostId>test-proxy</HostId></Error>"
        ).encode()
        # Recorded before answering, so the client never sees an answer the log does not hold.
        request.status = fault.status
        self.send_response_only(fault.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("x-amz-request-id", "TESTPROXY")
        # Like S3, a HEAD error carries no body, so botocore sees only the status code.
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, request: RecordedRequest, upstream_port: int, fault: Fault) -> None:
        """Send the request upstream and stream the answer back, or `reset_after` bytes of its body, or
        the fault's own body in its place."""
        reset_after = fault.reset_after
        upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    upstream.putheader(name, value)
            chunked = self._request_is_chunked()
            if chunked:
                upstream.putheader("Transfer-Encoding", "chunked")
            upstream.endheaders()
            if chunked:
                self._relay_chunked(upstream.send)
            else:
                self._relay_exact(int(self.headers.get("Content-Length") or 0), upstream.send)

            response = upstream.getresponse()
            request.status = response.status
            self.send_response_only(response.status, response.reason)
            has_body = self.command != "HEAD" and response.status not in (204, 304)
            replaced = fault.body is not None and has_body
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP and not (replaced and name.lower() == "content-length"):
                    self.send_header(name, value)
            if replaced:
                self._send_replaced(response, fault)
                return
            # http.client undoes upstream chunking; redo it, or fall back to closing the connection
            # when upstream framed the body by closing its own.
            rechunk = has_body and response.chunked
            if rechunk:
                self.send_header("Transfer-Encoding", "chunked")
            elif has_body and response.length is None:
                self.close_connection = True
            self.end_headers()
            sent = 0
            while has_body and (data := response.read(CHUNK)):
                if reset_after is not None and sent + len(data) >= reset_after:
                    self._reset_after(data[: reset_after - sent], rechunk)
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if rechunk else data)
                sent += len(data)
            if rechunk:
                self.wfile.write(b"0\r\n\r\n")
        finally:
            upstream.close()

    def _send_replaced(self, response: http.client.HTTPResponse, fault: Fault) -> None:
        """Answer with the fault's body instead of upstream's: chunked with no length, or with its own."""
        response.read()
        body = fault.body or b""
        if fault.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), CHUNK):
                data = body[start : start + CHUNK]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def _reset_after(self, data: bytes, rechunk: bool) -> None:
        """Send the last bytes, then drop the connection with a TCP reset rather than a clean close."""
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if rechunk else data)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


@dataclass
class ReportBucket:
    """A fresh requester-pays bucket for one test, filled directly on moto (never through the proxy)."""

    bucket: str
    proxy: S3Proxy
    client: Any = field(repr=False)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request the proxy saw during this test."""
        return self.proxy.requests

    def put(self, key: str, body: bytes) -> str:
        """Store `body` at `key`; returns the bare ETag."""
        return self.client.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"].strip('"')

    def create(self) -> None:
        self.client.create_bucket(Bucket=self.bucket)

    def destroy(self) -> None:
        """Delete every object, then the bucket, so moto frees the memory."""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
        self.client.delete_bucket(Bucket=self.bucket)
