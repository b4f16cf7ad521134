"""The README's worked signing example is true: the documented signed text is the scheme applied to the
documented body, the documented header is what the server expects for it, and the shell recipe beside it
computes the same header with openssl."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reports.views import expected_signature

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def documented(pattern: str) -> str:
    match = re.search(pattern, README)
    assert match, f"README lost {pattern!r}"
    return match.group(1)


SECRET = documented(r"with the secret\s+`([0-9a-f]+)`")
TIMESTAMP = documented(r"the timestamp\s+`(\d+)`")
BODY = documented(r"\nbody='(.+)'\n")
SIGNED_TEXT = documented(r"the signed text is\s+```\n(.+)\n```")
HEADER = documented(r"X-Signature: sha256=([0-9a-f]{64})")


def test_the_signed_text_is_timestamp_method_path_and_body():
    assert SIGNED_TEXT == f"{TIMESTAMP}.POST./api/receipts/.{BODY}"


def test_the_server_expects_the_documented_signature():
    digest = expected_signature(SECRET, timestamp=TIMESTAMP, method="POST", path="/api/receipts/", body=BODY.encode())
    assert digest == HEADER


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_the_shell_recipe_computes_the_documented_signature():
    recipe = documented(r"\n(sig=\$\(printf .+)\n")
    script = f"body='{BODY}'\nts={TIMESTAMP}\n{recipe}\nprintf %s \"$sig\""
    done = subprocess.run(["sh", "-c", script], env={"SIGNAL_API_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stdout == HEADER
