"""A fuzz pass over the intakes as a whole: report uploads and HTTP feeds, receipt and notice CSV files, the signed API.

Malformed UTF-8, NULs, huge fields, huge declared sizes, chunked bodies, decompression bombs and cut-short
gzip files: each gets a clear answer — a failed report, a refused file, a counted bad row, a 4xx — and writes
nothing it should not (R8, R9), and none of them makes the process hold the hostile size in memory.
"""

import gzip
import io
import json
import tracemalloc
import zipfile
import zlib
from datetime import date

import pytest

from django.core.management import call_command

from contacts.csvio import BadFile
from contacts.models import OptOutEvent, SubscriberList, Subscription
from reports import fetching, services
from reports.models import CarrierNotice, Channel, DeactivationReport, DeliveryReceipt
from reports.notices import NoticeIntake
from reports.receipts import ReceiptIntake
from reports.views import MAX_BODY_BYTES
from tests.factories import SubscriptionFactory
from tests.reports.builders import report_csv, upload
from tests.support.bodies import VirtualBody
from tests.support.signing import RECEIPTS, SECRET, signature

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 20)
MIB = 1024 * 1024
GIB = 1024 * MIB


@pytest.fixture(autouse=True)
def signal_secret(settings):
    settings.SIGNAL_API_SECRET = SECRET


@pytest.fixture
def subs() -> list[Subscription]:
    return [SubscriptionFactory(contact__phone=f"+1202555{n:04d}") for n in (141, 142, 143)]


def opted_out() -> int:
    return Subscription.objects.filter(status=Subscription.Status.OPTED_OUT).count()


def zeros_gzip(size: int) -> bytes:
    """`size` bytes of zeros, gzipped: a bomb of about size/1000 bytes, for bodies that must not be inflated."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(MIB)
    return b"".join([*(squeeze.compress(block) for _ in range(size // MIB)), squeeze.flush()])


def text_bomb(size: int) -> bytes:
    """A report header and then `size` bytes of blank text, as gzip members of 1 MiB each: text all the way, so
    only the inflation limits can stop it (a reader of several members must keep going)."""
    member = gzip.compress(b" " * MIB, compresslevel=9)
    return gzip.compress(b"phone_number,deactivation_date\n") + member * (size // MIB)


def peak_memory(work) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- Deactivation report files, uploaded or served over HTTP (issue 18: the same suite for every intake) ---


@pytest.fixture(params=["upload", "http"])
def deliver(request):
    """How a report's bytes arrive: an upload, or the body of an HTTP feed's answer; returns the ingest's result."""
    if request.param == "upload":
        return lambda body: services.ingest(upload(body, report_date=DAY))
    feed = request.getfixturevalue("feed")

    def served(body: bytes) -> services.IngestResult:
        feed.files[DAY] = body
        return fetching.fetch_dated("http", DAY)

    return served


def failed_report(deliver, body: bytes, reason: str) -> DeactivationReport:
    with pytest.raises(services.ReportFailed, match=reason):
        deliver(body)
    report = DeactivationReport.objects.get()
    assert report.status == DeactivationReport.Status.FAILED and reason in report.error
    return report


def test_a_gzip_bomb_fails_the_report_before_it_inflates(subs, deliver):
    bomb = text_bomb(1 * GIB)  # 1 GiB of text in about 1 MB
    assert len(bomb) < 2 * MIB
    peak = peak_memory(lambda: failed_report(deliver, bomb, "decompression bomb"))
    assert peak < 32 * MIB
    assert opted_out() == 0


def test_a_zip_declaring_a_gigabyte_member_is_refused_before_reading_it(subs, deliver):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        with zipped.open("report.csv", "w", force_zip64=True) as member:
            member.write(b"phone_number,deactivation_date\n")
            for _ in range(64):
                member.write(bytes(MIB))
    failed_report(deliver, archive.getvalue(), "decompression bomb")
    assert opted_out() == 0


def test_a_gzip_report_cut_short_applies_none_of_its_rows(subs, deliver):
    body = gzip.compress(report_csv(*((sub.contact.phone, DAY) for sub in subs)) * 2000)
    failed_report(deliver, body[: len(body) // 2], "cut short")
    assert (opted_out(), OptOutEvent.objects.count()) == (0, 0)


@pytest.mark.parametrize(
    "junk, reason",
    [
        (bytes(range(256)) * 64, "binary"),
        (b"\x00" * 10_000, "binary"),
        ("phone\n".encode("utf-16"), "UTF-16"),
        (b"\x1f\x8b\x08\x00garbage", "gzip file is cut short"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 20, "not a readable gzip file"),
        (zeros_gzip(64 * MIB), "binary"),  # a bomb of zeros is refused as binary at its first inflated chunk
        (b"na\x00me,email\n" + b"Ada,ada@example.com\n" * 100, "no phone number column"),  # a NUL in the message
        (b"PK\x03\x04" + b"\x00" * 100, "not a readable zip file"),
    ],
)
def test_a_file_that_is_not_text_fails_whole(subs, deliver, junk, reason):
    failed_report(deliver, junk, reason)
    assert opted_out() == 0


def test_bad_bytes_nuls_and_a_huge_line_are_bad_rows_and_the_good_rows_apply(subs, deliver):
    a, b, c = (sub.contact.phone for sub in subs)
    body = (
        b"phone_number,deactivation_date\n"
        + f"{a},{DAY}\n".encode()
        + b"\xff\xfe\xc3(,2026-11-20\n"  # not UTF-8
        + b"+1202\x00555\x000144,2026-11-20\n"  # NULs inside the number
        + b"9" * (8 * MIB)  # one line of 8 MiB
        + f"\n{b},{DAY}\n".encode()
        + f"{c},{DAY}".encode()
    )
    report = deliver(body).report
    assert (report.valid, report.invalid) == (3, 3)
    reasons = sorted(sample["reason"] for sample in report.invalid_samples)
    assert reasons == ["line too long", "not UTF-8", "not a phone number"]
    assert opted_out() == 3


# --- Receipt and notice CSV files ---


def ingest_notices(body: bytes):
    return NoticeIntake(channel=Channel.CSV).ingest_file(io.BytesIO(body))


def past_the_sniff(header: bytes, rows: bytes) -> bytes:
    """Rows placed after the first 8 KiB (blank lines, skipped), where the whole-file binary check has looked."""
    return header + b"\n" * 9000 + rows


def test_a_csv_with_nuls_up_front_is_refused_whole(subs):
    with pytest.raises(BadFile, match="binary"):
        ingest_notices(b"phone,carrier,event,occurred_at\n\x00\x00\x00")
    assert not CarrierNotice.objects.exists()


def test_bad_rows_in_a_notices_csv_are_counted_and_the_good_ones_apply(subs):
    a, b, c = (sub.contact.phone for sub in subs)
    body = past_the_sniff(
        b"phone,carrier,event,occurred_at\n",
        f"{a},T-Mobile,deactivated,2026-11-20\n".encode()
        + b"\xff\xfe,T-Mobile,deactivated,2026-11-20\n"
        + f"{b},T-Mob\x00ile,deactivated,2026-11-20\n".encode()
        + f"{b},T-Mobile,deact\x00ivated,2026-11-20\n".encode()
        + f'{b},T-Mobile,deactivated,"{"x" * MIB}"\n'.encode()
        + f"{c},T-Mobile,deactivated,2026-11-20\n".encode(),
    )
    result = ingest_notices(body)
    assert (result.accepted, result.invalid) == (2, 4)
    assert opted_out() == 2


@pytest.mark.parametrize("where", ["message_id", "carrier", "sender_code", "occurred_at", "phone"])
def test_a_nul_in_any_receipt_field_is_a_bad_row_not_a_crash(subs, where):
    sub = subs[0]
    fields = {"phone": sub.contact.phone, "sender_code": sub.list.sender_code.code, "error_code": "629",
              "occurred_at": "2026-11-20T10:00:00Z", "carrier": "Verizon", "message_id": "SM1"}  # fmt: skip
    fields[where] = fields[where][:2] + "\x00" + fields[where][2:]
    body = past_the_sniff(b"phone,sender_code,error_code,occurred_at,carrier,message_id\n",
                          ",".join(fields.values()).encode())  # fmt: skip
    result = ReceiptIntake(channel=Channel.CSV).ingest_file(io.BytesIO(body))
    assert (result.accepted, result.invalid) == (0, 1)
    assert not DeliveryReceipt.objects.exists()


def test_nuls_in_an_operators_subscriptions_file_are_bad_rows_and_the_rest_imports(tmp_path):
    """The import reads the same CSV rows: a NUL in an email or a new list's name is that row's problem."""
    rows = [
        "+12025550141,45678,Alerts,2026-01-02,one@example.com",
        "+12025550142,45678,Alerts,2026-01-02,t\x00wo@example.com",
        "+12025550143,45678,Ale\x00rts,2026-01-02,",
        "+12025550144,45678,Alerts,2026-01-02,",
    ]
    path = tmp_path / "subscriptions.csv"
    path.write_bytes(past_the_sniff(b"phone,sender_code,list,opted_in_at,email\n", "\n".join(rows).encode()))
    out = io.StringIO()
    call_command("import_subscriptions", str(path), "--create-lists", stdout=out, stderr=io.StringIO())
    assert "created=2 " in out.getvalue() and "invalid=2 " in out.getvalue()
    assert sorted(Subscription.objects.values_list("contact__phone", flat=True)) == ["+12025550141", "+12025550144"]
    assert list(SubscriberList.objects.values_list("name", flat=True)) == ["Alerts"]


# --- The signed API ---


def post_raw(client, body: bytes, **environ):
    return client.generic("POST", RECEIPTS, body, content_type="application/json", headers=signature(body),
                          **environ)  # fmt: skip


def test_a_gigabyte_declared_body_is_refused_before_a_byte_is_read(client):
    stream = VirtualBody(GIB)
    environ = {"wsgi.input": stream, "CONTENT_LENGTH": str(GIB), "CONTENT_TYPE": "application/json"}
    response = client.generic("POST", RECEIPTS, headers=signature(b"{}"), **environ)
    assert (response.status_code, stream.read_bytes) == (413, 0)


def test_a_gigabyte_chunked_body_is_refused_having_read_at_most_the_limit(client):
    stream = VirtualBody(GIB)
    environ = {"wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_TYPE": "application/json"}
    peak = peak_memory(lambda: client.generic("POST", RECEIPTS, headers=signature(b"{}"), **environ))
    assert stream.read_bytes <= MAX_BODY_BYTES + 1
    assert peak < 3 * MAX_BODY_BYTES


@pytest.mark.parametrize(
    "body",
    [
        b'{"receipts": [{"phone": "\xff\xfe"}]}',  # not UTF-8
        gzip.compress(b'{"receipts": []}'),  # gzip without saying so
        zeros_gzip(64 * MIB),  # a bomb: never inflated, it is not JSON
        b'{"receipts": [' + b"[" * 50_000 + b"]" * 50_000 + b"]}",  # nesting deep enough to exhaust the stack
        b"\x00" * 1000,
    ],
    ids=["bad utf-8", "gzip", "gzip bomb", "deep nesting", "nuls"],
)
def test_a_hostile_body_is_a_400_and_records_nothing(client, body):
    response = post_raw(client, body)
    assert response.status_code == 400
    assert "error" in response.json()
    assert not DeliveryReceipt.objects.exists()


def test_nuls_and_huge_fields_in_items_are_invalid_items_and_the_rest_apply(client, subs):
    a, b, c = subs

    def item(sub, **extra):
        return {"phone": sub.contact.phone, "sender_code": sub.list.sender_code.code, "error_code": 629,
                "occurred_at": "2026-11-20T10:00:00Z", **extra}  # fmt: skip

    items = [
        item(a),
        item(b, message_id="SM\u00001"),
        item(b, carrier="Veri\u0000zon"),
        item(b, message_id="M" * MIB),
        item(b, phone="+1" + "9" * 100_000),
        item(b, error_code=10**40),
        item(b, occurred_at="2026-11-20T10:00:00Z" + "x" * 100_000),
        item(c),
    ]
    response = post_raw(client, json.dumps({"receipts": items}).encode())
    assert response.status_code == 202
    assert [r["result"] for r in response.json()["results"]] == ["accepted"] + ["invalid"] * 6 + ["accepted"]
    assert DeliveryReceipt.objects.count() == 2
    assert opted_out() == 2
