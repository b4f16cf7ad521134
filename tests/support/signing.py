"""Signing requests to the Signal API the way a provider does, written here from the documented scheme
(README, Signal API) rather than taken from the server's own code, so a test catches either side drifting."""

import hashlib
import hmac
import json
import time

SECRET = "a-test-secret-shared-with-the-provider"
RECEIPTS = "/api/receipts/"
NOTICES = "/api/carrier-notices/"


def signature(
    body: bytes, *, path: str = RECEIPTS, method: str = "POST", secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """The two signature headers for `method path` with `body`: HMAC-SHA256 of "{timestamp}.{METHOD}.{path}.{body}"."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    message = b".".join([stamp.encode(), method.encode(), path.encode(), body])
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {"X-Signature": f"sha256={digest}", "X-Signature-Timestamp": stamp}


def wrong_signatures(body: bytes, *, path: str = RECEIPTS) -> dict[str, dict[str, str]]:
    """Headers that must each be refused with 401 for `POST path` with `body`."""
    now = int(time.time())
    good = signature(body, path=path)
    return {
        "missing": {},
        "no timestamp": {"X-Signature": good["X-Signature"]},
        "not sha256": {**good, "X-Signature": good["X-Signature"].replace("sha256=", "sha1=")},
        "wrong secret": signature(body, path=path, secret="guessed"),
        "another body": signature(body + b" ", path=path),
        "timestamp not signed": {**good, "X-Signature-Timestamp": str(now - 1)},
        "stale": signature(body, path=path, timestamp=now - 301),
        "from the future": signature(body, path=path, timestamp=now + 360),  # a slow run must not bring it within
        "timestamp not a number": {**good, "X-Signature-Timestamp": "yesterday"},
        "non-ascii signature": {**good, "X-Signature": "sha256=é"},
        "another endpoint's path": signature(body, path=NOTICES if path == RECEIPTS else RECEIPTS),
        "the path with its query": signature(body, path=f"{path}?page=2"),
        "another method": signature(body, path=path, method="PUT"),
        "the old scheme without method and path": {
            **good,
            "X-Signature": "sha256="
            + hmac.new(
                SECRET.encode(), good["X-Signature-Timestamp"].encode() + b"." + body, hashlib.sha256
            ).hexdigest(),
        },
        "timestamp of 400 digits": {**good, "X-Signature-Timestamp": "9" * 400},
        "timestamp of 5000 digits": {**good, "X-Signature-Timestamp": "1" * 5000},
        "timestamp of 13 digits": signature(body, path=path, timestamp=now * 1000),
    }


def signed_post(client, path: str, payload, headers: dict | None = None):
    """POST `payload` (JSON-encoded unless bytes) to `path`, signed anew, or with the headers given."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = signature(body, path=path) if headers is None else headers
    return client.post(path, body, content_type="application/json", headers=headers)
