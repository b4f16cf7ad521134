"""Issue 20: an export through gunicorn, as production serves it, is never cut off. Streamed in the request, an export
bigger than the worker timeout allows is killed half way (`WORKER TIMEOUT`, a truncated file); sized first, the
same export goes to a Celery worker, and the user downloads the whole file once it is written."""

import http.client
import socket
import time

import pytest

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from bench.data import load_contacts, numbers
from bench.receipts_load import gunicorn, server_env
from contacts.exports import OptedOutFilter, opted_out_export
from contacts.models import SenderCode, Subscription
from tests.conftest import database_url_for_subprocess
from tests.s3_endpoint import free_port
from transfers.models import ExportJob

committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the server sees commits only

TIMEOUT = 2  # gunicorn --timeout: seconds a sync worker may spend on one request
CONTACTS = 75_000  # the code's 75,000 opt-outs are 6 MB: more than the 4 MB a socket buffers, and a slow client reads


def opted_out_program() -> SenderCode:
    load_contacts(numbers(CONTACTS, seed=41))
    with connection.cursor() as cursor:
        cursor.execute("""UPDATE contacts_subscription SET status = 'opted_out', opt_out_reason = 'deactivated',
                          opted_out_at = '2026-11-20T10:00:00Z'::timestamptz - id * interval '1 second'""")
    return SenderCode.objects.get(code="45678")


def session_cookie() -> str:
    client = Client()
    client.force_login(User.objects.create_superuser("exporter", password="a-long-password-1"))
    return f"sessionid={client.cookies['sessionid'].value}"


def server(tmp_path, media, *, direct_max_rows: int, redis_url: str):
    env = {**server_env(database_url_for_subprocess(), "unused-signal-secret"), "MEDIA_ROOT": str(media),
           "REDIS_URL": redis_url, "EXPORT_DIRECT_MAX_ROWS": str(direct_max_rows), "LOG_LEVEL": "INFO",
           "SECRET_KEY": settings.SECRET_KEY}  # fmt: skip  # the session signed here is read there
    port = free_port()
    return port, gunicorn(env, port=port, workers=1, log=tmp_path / "gunicorn.log", timeout=TIMEOUT)


def get(port: int, path: str, cookie: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def slow_download(port: int, path: str, cookie: str, seconds: float) -> bytes:
    """A client on a slow line: a small receive window, 8 KB read every tenth of a second, then the rest."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n".encode()
        )
        received, until = bytearray(), time.monotonic() + seconds
        while time.monotonic() < until:
            chunk = sock.recv(8192)
            if not chunk:
                break
            received += chunk
            time.sleep(0.1)
        sock.settimeout(10)
        while chunk := sock.recv(1 << 16):
            received += chunk
    return bytes(received)


@committed
def test_a_big_export_through_gunicorn_is_written_by_a_worker_and_downloaded_whole(
    postgres, redis_url, celery_worker, shared_media_root, tmp_path
):
    code = opted_out_program()
    whole = b"".join(opted_out_export(OptedOutFilter(sender_code=code)).stream())
    rows = whole.count(b"\n") - 1
    assert rows == Subscription.objects.filter(list__sender_code=code).count() > 74_000  # two of the three lists
    cookie = session_cookie()
    path = f"/admin/contacts/smscontact/export.csv?sender_code={code.code}"

    # Streamed in the request (the limit out of the way), the download dies with the worker, half way.
    port, serving = server(tmp_path, shared_media_root, direct_max_rows=10**9, redis_url=redis_url)
    with serving:
        cut = slow_download(port, path, cookie, seconds=TIMEOUT * 3)
    assert cut.startswith(b"HTTP/1.1 200"), cut[:600].decode().replace("\r\n", " | ")
    assert cut.count(b"\n") < rows
    assert "WORKER TIMEOUT" in (tmp_path / "gunicorn.log").read_text()
    (tmp_path / "gunicorn.log").unlink()

    # As shipped: the export is sized first, handed to the worker, and the file downloaded whole.
    port, serving = server(tmp_path, shared_media_root, direct_max_rows=20_000, redis_url=redis_url)
    with serving:
        status, headers, _ = get(port, path, cookie)
        job = ExportJob.objects.get()
        assert status == 302 and headers["Location"] == f"/admin/transfers/exportjob/{job.pk}/change/"
        deadline = time.monotonic() + 120
        while job.status in (ExportJob.Status.QUEUED, ExportJob.Status.RUNNING) and time.monotonic() < deadline:
            time.sleep(0.2)
            job.refresh_from_db()
        assert (job.status, job.rows_done, job.created_by.username) == ("ready", rows, "exporter")
        status, headers, body = get(port, f"/admin/transfers/exportjob/{job.pk}/download/", cookie)
    assert status == 200 and headers["Content-Disposition"].startswith('attachment; filename="opted-out-45678-')
    assert body == whole
    log = (tmp_path / "gunicorn.log").read_text()
    assert "WORKER TIMEOUT" not in log
    assert not [phone for phone in numbers(CONTACTS, seed=41)[:100] if phone in log]  # no number logged
