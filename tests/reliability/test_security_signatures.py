"""The signed endpoints refuse a missing, wrong, stale or replayed signature, on both endpoints, and a replay
sent at the same moment as the original is refused too: the store of used signatures is the database, shared
by every web worker."""

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from django.db import connection
from django.test import Client

from contacts.models import Carrier
from reports.models import CarrierNotice, DeliveryReceipt, UsedSignature
from tests.factories import ContactFactory, SubscriptionFactory
from tests.support.signing import NOTICES, RECEIPTS, SECRET, signature, wrong_signatures

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signal_secret(settings):
    settings.SIGNAL_API_SECRET = SECRET


def batch(path: str, n: int = 0) -> bytes:
    """A one-item batch for the endpoint, its number chosen by `n` so each call is a new signal."""
    if path == RECEIPTS:
        sub = SubscriptionFactory()
        item = {"phone": sub.contact.phone, "sender_code": sub.list.sender_code.code, "error_code": 629,
                "occurred_at": f"2026-11-20T10:{n % 60:02d}:00Z"}  # fmt: skip
        return json.dumps({"receipts": [item]}).encode()
    contact = ContactFactory(carrier=Carrier.objects.get(name="Verizon"))
    SubscriptionFactory(contact=contact)
    item = {"phone": contact.phone, "carrier": "Verizon", "event": "suspended", "occurred_at": "2026-11-20"}
    return json.dumps({"notices": [item]}).encode()


def recorded(path: str) -> int:
    return (DeliveryReceipt if path == RECEIPTS else CarrierNotice).objects.count()


def send(client: Client, path: str, body: bytes, headers: dict[str, str]):
    return client.post(path, body, content_type="application/json", headers=headers)


@pytest.mark.parametrize("path", [RECEIPTS, NOTICES])
@pytest.mark.parametrize("case", list(wrong_signatures(b"")))
def test_both_endpoints_refuse_a_bad_signature_and_record_nothing(client, path, case):
    body = batch(path)
    response = send(client, path, body, wrong_signatures(body, path=path)[case])
    assert response.status_code == 401
    assert recorded(path) == 0
    assert not UsedSignature.objects.exists()


@pytest.mark.parametrize("path", [RECEIPTS, NOTICES])
def test_a_replayed_signature_is_refused_and_records_nothing(client, path):
    body = batch(path)
    headers = signature(body, path=path)
    assert send(client, path, body, headers).status_code == 202
    replay = send(client, path, body, headers)
    assert (replay.status_code, replay.json()["error"]) == (
        401,
        "this signature was used before: sign each request anew",
    )
    assert recorded(path) == 1
    assert UsedSignature.objects.count() == 1


def test_the_same_signature_in_capitals_is_the_same_signature(client):
    body = batch(RECEIPTS)
    headers = signature(body)
    send(client, RECEIPTS, body, headers)
    shouted = {**headers, "X-Signature": "sha256=" + headers["X-Signature"].removeprefix("sha256=").upper()}
    assert send(client, RECEIPTS, body, shouted).status_code == 401


def test_the_same_body_signed_anew_is_accepted(client):
    body = batch(RECEIPTS)
    now = int(time.time())
    assert send(client, RECEIPTS, body, signature(body, timestamp=now - 2)).status_code == 202
    again = send(client, RECEIPTS, body, signature(body, timestamp=now))
    assert (again.status_code, again.json()["duplicates"]) == (202, 1)


def test_a_signature_is_remembered_until_its_timestamp_goes_stale_and_then_pruned(client):
    old = UsedSignature.objects.create(digest="0" * 64, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    body = batch(RECEIPTS)
    stamp = int(time.time())
    send(client, RECEIPTS, body, signature(body, timestamp=stamp))
    kept = UsedSignature.objects.get()
    assert kept.pk != old.pk
    assert kept.expires_at == datetime.fromtimestamp(stamp + 300, UTC)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # each thread its own connection
def test_two_replays_at_once_apply_once(postgres):
    """Three originals, each sent by two threads released together: one 202 and one 401 each time."""
    for n in range(3):
        body = batch(RECEIPTS, n)
        headers = signature(body)
        start = threading.Barrier(2)
        statuses: list[int] = []

        def race():
            try:
                start.wait(timeout=10)
                statuses.append(send(Client(), RECEIPTS, body, headers).status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=race) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(statuses) == [202, 401]
        assert recorded(RECEIPTS) == n + 1


@pytest.mark.parametrize("digits", [11, 400, 5000])
def test_a_huge_timestamp_is_a_401_without_a_traceback(caplog, digits):
    """Issue 13 (5): 400+ digits overflowed the float clock arithmetic (a 500 and an ERROR per request)."""
    body = batch(RECEIPTS)
    headers = {**signature(body), "X-Signature-Timestamp": "9" * digits}
    response = send(Client(raise_request_exception=False), RECEIPTS, body, headers)
    assert response.status_code == 401
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert recorded(RECEIPTS) == 0


def test_a_signature_for_one_endpoint_is_refused_by_the_other(client):
    """A body that is a batch for both endpoints, signed for receipts and sent to notices, is refused."""
    receipts = json.loads(batch(RECEIPTS))
    body = json.dumps({**receipts, **json.loads(batch(NOTICES))}).encode()
    response = send(client, NOTICES, body, signature(body, path=RECEIPTS))
    assert (response.status_code, response.json()["error"]) == (
        401,
        "the signature does not match the method, path and body",
    )
    assert recorded(NOTICES) == 0
    assert send(client, RECEIPTS, body, signature(body, path=RECEIPTS)).status_code == 202
