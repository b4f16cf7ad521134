"""Production settings are secure by default and each switch follows the environment."""

import io
import os
import subprocess
import sys

import pytest

from django.core.management import call_command
from django.core.management.base import SystemCheckError

from tests.conftest import ROOT

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k7Qx-production-like-secret-9f2b4c1e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
    "ALLOWED_HOSTS": "sms.example.com",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_tls_switches_are_turned_off():
    switches = {"SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
                "SECURE_HSTS_SECONDS": "0"}  # fmt: skip
    result = manage("check", "--deploy", **PRODUCTION, **switches)
    for warning in ("security.W008", "security.W012", "security.W016", "security.W004"):
        assert warning in result.stderr


def test_debug_off_without_a_secret_key_refuses_to_start():
    result = manage("check", DEBUG="0", ALLOWED_HOSTS="sms.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_migrations_match_the_models():
    result = manage("makemigrations", "--check", "--dry-run", DEBUG="1")
    assert result.returncode == 0, result.stdout + result.stderr


def example_value(name: str) -> str:
    """A variable's value as .env.example ships it."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith(f"{name}="))


@pytest.mark.parametrize(
    "secret, says",
    [
        (example_value("SIGNAL_API_SECRET"), "is the placeholder from .env.example"),
        ("x" * 31, "is shorter than 32 characters"),
        ("s3cret", "is shorter than 32 characters"),
    ],
)
def test_check_deploy_refuses_a_weak_signal_api_secret(settings, secret, says):
    """Issue 13 (9): the example's placeholder (33 characters) and short secrets passed silently."""
    settings.SIGNAL_API_SECRET = secret
    with pytest.raises(SystemCheckError) as refused:
        call_command("check", deploy=True, stdout=io.StringIO(), stderr=io.StringIO())
    assert f"(reports.E003) SIGNAL_API_SECRET {says}" in str(refused.value)
    # Not a deploy concern on a developer's machine: plain `check` stays quiet about it.
    out = io.StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "reports.E003" not in out.getvalue()


@pytest.mark.parametrize("secret", ["", "x" * 32, "0f4c1d9e7a2b8c3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5"])
def test_check_deploy_accepts_an_unset_or_strong_signal_api_secret(settings, secret):
    settings.SIGNAL_API_SECRET = secret
    out = io.StringIO()
    call_command("check", deploy=True, stdout=out, stderr=out)  # raises SystemCheckError on any error
    assert "reports.E003" not in out.getvalue()


def test_check_deploy_from_the_shell_fails_on_the_example_secret():
    result = manage("check", "--deploy", **PRODUCTION, SIGNAL_API_SECRET=example_value("SIGNAL_API_SECRET"))
    assert result.returncode != 0
    assert "reports.E003" in result.stderr
