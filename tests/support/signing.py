"""Sign a request body the way a provider does for the signed API (see README: Signal API)."""

import hashlib
import hmac
import json
import time

SECRET = "a-test-secret-shared-with-the-provider"


def signature(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Signature": f"sha256={digest}", "X-Signature-Timestamp": stamp}


def signed_post(client, path: str, payload, headers: dict | None = None):
    """POST `payload` (JSON-encoded unless bytes) signed anew, or with the headers given."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(
        path, body, content_type="application/json", headers=signature(body) if headers is None else headers
    )
