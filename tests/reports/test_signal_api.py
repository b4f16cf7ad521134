"""The signed intake API: HMAC over `{timestamp}.{METHOD}.{path}.{body}`, whole-request refusals that change nothing,
an answer per item, replays that are no-ops (R6), and bodies refused without being read whole."""

import http.client
import io
import json
import time
import tracemalloc

import pytest

from django.test import Client

from contacts.models import Carrier, OptOutEvent, Subscription
from reports.models import CarrierNotice, DeliveryReceipt
from reports.views import MAX_BODY_BYTES, MAX_ITEMS
from tests.factories import ContactFactory, SubscriptionFactory
from tests.reports.builders import numbers, subscribe_many
from tests.support.bodies import VirtualBody
from tests.support.signing import NOTICES, RECEIPTS, SECRET, signature, wrong_signatures

FIFTY_MB = 50 * 1024 * 1024

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signal_secret(settings):
    settings.SIGNAL_API_SECRET = SECRET


def post(client: Client, path: str, payload, headers: dict | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(
        path, body, content_type="application/json", headers=signature(body, path=path) if headers is None else headers
    )


@pytest.fixture
def sub():
    return SubscriptionFactory()


def receipt(sub: Subscription, code: int | None = 629, **extra) -> dict:
    return {"phone": sub.contact.phone, "sender_code": sub.list.sender_code.code, "error_code": code,
            "occurred_at": "2026-11-20T10:00:00Z", **extra}  # fmt: skip


def test_a_signed_batch_is_accepted_with_an_answer_per_item(client, sub):
    response = post(client, RECEIPTS, {"receipts": [receipt(sub), {**receipt(sub), "sender_code": "00000"}]})
    assert response.status_code == 202
    stored = DeliveryReceipt.objects.get()
    assert response.json() == {
        "accepted": 1, "duplicates": 0, "invalid": 1, "rejected": 0,
        "results": [
            {"index": 0, "result": "accepted", "id": stored.pk, "outcome": "opted_out"},
            {"index": 1, "result": "invalid", "reason": "unknown sender code '00000'"},
        ],
    }  # fmt: skip
    sub.refresh_from_db()
    assert not sub.is_opted_in


def test_r6_a_batch_sent_again_changes_nothing(client, sub):
    body = json.dumps({"receipts": [receipt(sub, message_id="SM1"), receipt(sub, 4001)]}).encode()
    post(client, RECEIPTS, body, signature(body, timestamp=int(time.time()) - 1))
    events = OptOutEvent.objects.count()
    again = post(client, RECEIPTS, body, signature(body))  # a provider's retry, signed anew
    assert again.status_code == 202
    assert [item["result"] for item in again.json()["results"]] == ["duplicate", "duplicate"]
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 2)
    assert (DeliveryReceipt.objects.count(), OptOutEvent.objects.count()) == (2, events)


@pytest.mark.parametrize("case", list(wrong_signatures(b"")))
def test_a_missing_wrong_or_stale_signature_is_refused_and_changes_nothing(client, sub, case):
    body = json.dumps({"receipts": [receipt(sub)]}).encode()
    response = post(client, RECEIPTS, body, wrong_signatures(body)[case])
    assert response.status_code == 401
    assert "error" in response.json()
    assert not DeliveryReceipt.objects.exists()
    sub.refresh_from_db()
    assert sub.is_opted_in


def test_a_signature_five_minutes_old_is_still_good(client, sub):
    body = json.dumps({"receipts": [receipt(sub)]}).encode()
    assert post(client, RECEIPTS, body, signature(body, timestamp=int(time.time()) - 290)).status_code == 202


def test_without_a_configured_secret_the_endpoints_answer_503(client, settings, sub):
    settings.SIGNAL_API_SECRET = ""
    for path in (RECEIPTS, NOTICES):
        response = post(client, path, {"receipts": [receipt(sub)]}, signature(b"", secret="anything"))
        assert (response.status_code, response.json()["error"]) == (
            503,
            "not configured: the server has no SIGNAL_API_SECRET",
        )


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "the body is not valid JSON"),
        (b"\xff\xfe\x00", "the body is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "the body is not valid JSON"),
        (b'[{"phone": "+12025550143"}]', 'expected a JSON object {"receipts": [...]}'),
        (b'{"receipt": []}', 'expected a JSON object {"receipts": [...]}'),
        (b'{"receipts": {"phone": "+12025550143"}}', 'expected a JSON object {"receipts": [...]}'),
    ],
)
def test_a_body_that_is_not_a_batch_is_a_400(client, body, message):
    response = post(client, RECEIPTS, body)
    assert (response.status_code, response.json()["error"]) == (400, message)


def test_a_body_that_is_not_json_is_a_415(client, sub):
    body = json.dumps({"receipts": [receipt(sub)]}).encode()
    response = client.post(RECEIPTS, body, content_type="text/plain", headers=signature(body))
    assert response.status_code == 415
    assert not DeliveryReceipt.objects.exists()


def test_more_than_10000_items_is_refused_whole(client, sub):
    response = post(client, RECEIPTS, {"receipts": [receipt(sub)] * (MAX_ITEMS + 1)})
    assert (response.status_code, response.json()["error"]) == (413, "at most 10000 receipts per request")
    assert not DeliveryReceipt.objects.exists()


def test_10000_items_are_one_batch(client, sub):
    items = [receipt(sub, 4001, occurred_at=f"2026-11-{1 + n % 20:02d}T{n // 1200:02d}:{n // 20 % 60:02d}:00Z")
             for n in range(MAX_ITEMS)]  # fmt: skip
    response = post(client, RECEIPTS, {"receipts": items})
    assert (response.status_code, response.json()["accepted"]) == (202, MAX_ITEMS)


def test_the_endpoints_take_only_post_and_need_no_csrf_token(sub):
    client = Client(enforce_csrf_checks=True)
    assert client.get(RECEIPTS).status_code == 405
    assert post(client, RECEIPTS, {"receipts": [receipt(sub)]}).status_code == 202


def test_carrier_notices_endpoint_answers_per_notice(client):
    verizon = SubscriptionFactory(contact=ContactFactory(carrier=Carrier.objects.get(name="Verizon")))
    tmobile = SubscriptionFactory()
    notices = [
        {"phone": verizon.contact.phone, "carrier": "Verizon", "event": "suspended", "occurred_at": "2026-11-20"},
        {"phone": tmobile.contact.phone, "carrier": "T-Mobile", "event": "suspended", "occurred_at": "2026-11-20"},
        {"phone": tmobile.contact.phone, "carrier": "T-Mobile", "event": "ported", "occurred_at": "2026-11-20"},
    ]
    response = post(client, NOTICES, {"notices": notices})
    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["accepted", "rejected", "invalid"]
    assert results[0]["outcome"] == "suspended"
    assert results[1]["reason"] == "T-Mobile does not support temporary suspension"
    assert CarrierNotice.objects.get(pk=results[1]["id"]).status == CarrierNotice.Status.REJECTED


# Oversize bodies: refused before they are read whole


def test_a_50_mb_body_is_refused_with_413(client):
    body = b" " * FIFTY_MB
    response = client.post(RECEIPTS, body, content_type="application/json", headers=signature(b"{}"))
    assert response.status_code == 413


def test_a_50_mb_body_with_its_length_declared_is_refused_before_reading_a_byte(client, caplog):
    stream = VirtualBody(FIFTY_MB)
    environ = {"wsgi.input": stream, "CONTENT_LENGTH": str(FIFTY_MB), "CONTENT_TYPE": "application/json"}
    response = client.generic("POST", RECEIPTS, headers=signature(b"{}"), **environ)
    assert response.status_code == 413
    assert stream.read_bytes == 0
    assert "bytes_read=0" in caplog.text


def test_a_50_mb_chunked_body_is_refused_having_read_at_most_limit_plus_one_bytes(client):
    stream = VirtualBody(FIFTY_MB)
    # What gunicorn hands over for Transfer-Encoding: chunked: no length, a stream that ends by itself.
    environ = {"wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_TYPE": "application/json"}
    tracemalloc.start()
    try:
        response = client.generic(
            "POST", RECEIPTS, content_type="application/json", headers=signature(b"{}"), **environ
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert stream.read_bytes <= MAX_BODY_BYTES + 1
    assert peak < FIFTY_MB // 2


def test_a_chunked_body_within_the_limit_is_read(client, sub):
    body = json.dumps({"receipts": [receipt(sub)]}).encode()
    environ = {"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True, "CONTENT_TYPE": "application/json"}
    response = client.generic("POST", RECEIPTS, headers=signature(body), **environ)
    assert (response.status_code, response.json()["accepted"]) == (202, 1)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the server thread's database
def test_a_50_mb_body_to_a_live_server_is_answered_before_it_is_sent(live_server, caplog):
    """Over real HTTP: the 413 arrives while 49.9 MB of the body are still unsent, so none of it was read."""
    host, port = live_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("POST", RECEIPTS)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(FIFTY_MB))
        for name, value in signature(b"{}").items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(b" " * 65536)
        response = connection.getresponse()
        assert response.status == 413
        assert "larger than" in json.loads(response.read())["error"]
    finally:
        connection.close()
    assert "status=413 bytes_read=0" in caplog.text


def test_r14_a_batch_that_would_empty_a_list_is_refused_with_409_and_records_nothing(client, settings):
    settings.OPT_OUT_GUARD_MIN = 10
    phones = list(numbers(40))
    [target] = subscribe_many(phones, lists=1)
    items = [{"phone": phone, "carrier": "Verizon", "event": "deactivated", "occurred_at": "2026-11-20T10:00:00Z"}
             for phone in phones[:20]]  # fmt: skip

    response = post(client, NOTICES, {"notices": items})

    assert response.status_code == 409
    assert f"{target.sender_code.code}/{target.name} 20 of 40 (50.0%)" in response.json()["error"]
    assert (CarrierNotice.objects.count(), Subscription.objects.opted_out().count()) == (0, 0)
    assert post(client, NOTICES, {"notices": items[:5]}).status_code == 202  # a smaller batch goes through
