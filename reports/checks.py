"""System checks for the reports' settings, and the start-up gate that the web app and the worker run.

`manage.py check` and every command run the checks themselves; gunicorn and the Celery worker run no system
checks, so they call `refuse_bad_configuration()` as they start (smsprogram/wsgi.py, asgi.py, celery.py).
"""

import re
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from reports import s3, sources

ENV_EXAMPLE = Path(settings.BASE_DIR) / ".env.example"
MIN_SECRET_LENGTH = 32


@register("reports")
def deact_reports_bucket(app_configs=None, **kwargs) -> list:
    """DEACT_REPORTS_REGION names the bucket whose files opt numbers out: a typo must stop every process."""
    messages = []
    region = settings.DEACT_REPORTS_REGION
    problem = s3.region_problem(region)
    if problem is not None:
        messages.append(Error(
            f"DEACT_REPORTS_REGION {problem}; the reports bucket would be {region}-pinpoint-sms-voice, "
            "a name anyone could register, whose 'report' would opt everyone out.",
            hint="Set DEACT_REPORTS_REGION to the AWS region of the deactivation reports, e.g. us-east-1.",
            id="reports.E001",
        ))  # fmt: skip
    elif not s3.region_is_known(region):
        messages.append(Warning(
            f"DEACT_REPORTS_REGION {region!r} has the shape of an AWS region but the installed botocore does "
            "not list it.",
            hint="Check the spelling; a region newer than botocore is fine.",
            id="reports.W001",
        ))  # fmt: skip
    owner_problem = s3.bucket_owner_problem(settings.DEACT_REPORTS_BUCKET_OWNER)
    if owner_problem is not None:
        messages.append(Error(
            f"DEACT_REPORTS_BUCKET_OWNER {owner_problem}.",
            hint="Set it to the 12-digit id of the account that owns the reports bucket, or leave it unset.",
            id="reports.E002",
        ))  # fmt: skip
    return messages


@register("reports")
def deact_sources(app_configs=None, **kwargs) -> list:
    """DEACT_SOURCES names real sources, and each enabled one has what it needs (its messages never quote a
    secret: a header's name at most)."""
    unknown = [name for name in settings.DEACT_SOURCES if name not in sources.NAMES]
    if unknown:
        return [Error(
            f"DEACT_SOURCES names {', '.join(map(repr, unknown))}, which is no deactivation report source: "
            "its schedules would never run.",
            hint=f"List some of {', '.join(sources.NAMES)}, comma-separated.",
            id="reports.E004",
        )]  # fmt: skip
    messages = []
    for name in sources.enabled():
        problems = sources.get(name).problems()
        if problems:
            messages.append(Warning(
                f"DEACT_SOURCES enables {name}, but {'; '.join(problems)}: its scheduled fetches will fail.",
                hint="Set the source's variables (see .env.example), or take it out of DEACT_SOURCES.",
                id="reports.W002",
            ))  # fmt: skip
    return messages


@register(Tags.security, deploy=True)
def signal_api_secret(app_configs=None, **kwargs) -> list:
    """A guessable SIGNAL_API_SECRET lets anyone post receipts and notices that opt numbers out."""
    secret = settings.SIGNAL_API_SECRET
    if not secret:
        return []  # the API is off: it answers 503
    if secret == example_signal_secret():
        reason = "is the placeholder from .env.example"
    elif len(secret) < MIN_SECRET_LENGTH:
        reason = f"is shorter than {MIN_SECRET_LENGTH} characters"
    else:
        return []
    return [Error(
        f"SIGNAL_API_SECRET {reason}: anyone who guesses it can sign requests that opt numbers out.",
        hint="Generate one with: openssl rand -hex 32 (and give it to the providers that sign requests).",
        id="reports.E003",
    )]  # fmt: skip


def example_signal_secret() -> str:
    """The placeholder .env.example ships, read from the file so the two never drift apart."""
    try:
        text = ENV_EXAMPLE.read_text()
    except OSError:
        return ""
    match = re.search(r"^SIGNAL_API_SECRET=(.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def refuse_bad_configuration() -> None:
    """Stop a process that runs no system checks (web app, worker) on the errors `manage.py check` reports."""
    errors = [message for message in [*deact_reports_bucket(), *deact_sources()] if message.is_serious()]
    if errors:
        raise ImproperlyConfigured(" ".join(f"{error.msg} ({error.id}) HINT: {error.hint}" for error in errors))
