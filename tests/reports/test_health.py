"""Ingestion health: check_ingestion, /healthz, /healthz/ingestion, interrupted reports (issue 16)."""

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django_celery_beat.models import PeriodicTask

from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from reports import health
from reports.models import DeactivationReport
from tests.support.smtp import free_port

pytestmark = pytest.mark.django_db
Status = DeactivationReport.Status
NOW = timezone.now()


def report(status: str, *, hours_ago: float = 1, origin: str = "s3", now=NOW, **fields) -> DeactivationReport:
    finished = now - timedelta(hours=hours_ago)
    return DeactivationReport.objects.create(
        origin=origin, fingerprint=f"{origin}:{status}:{hours_ago}:{fields}", status=status, finished_at=finished,
        started_at=finished - timedelta(minutes=1), **fields,
    )  # fmt: skip


def check(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("check_ingestion", *args, "--now", NOW.isoformat(), stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def test_check_ingestion_is_stale_when_the_source_never_succeeded():
    report(Status.FAILED)
    report(Status.SUCCEEDED, origin="upload")  # uploads are no source

    code, out = check()

    assert code == 1
    assert out == "stale: aws never succeeded max_age_hours=36 held=0 interrupted=0\n"


def test_check_ingestion_is_fresh_within_the_age_and_stale_beyond_it():
    report(Status.SUCCEEDED, hours_ago=30)

    assert check() == (0, "ok: aws age_hours=30.0 max_age_hours=36 held=0 interrupted=0\n")
    assert check("--max-age-hours", "24") == (1, "stale: aws age_hours=30.0 max_age_hours=24 held=0 interrupted=0\n")


def test_a_disabled_source_is_not_checked():
    PeriodicTask.objects.filter(task="reports.tasks.ingest_latest_report").update(enabled=False)

    assert check() == (0, "ok: no enabled source max_age_hours=36 held=0 interrupted=0\n")


def test_check_ingestion_counts_held_reports_and_fails_while_one_is_interrupted():
    report(Status.SUCCEEDED)
    report(Status.HELD)
    assert check()[0] == 0 and "held=1 interrupted=0" in check()[1]

    report(Status.INTERRUPTED)

    code, out = check()
    assert code == 1 and out.startswith("interrupted: ") and out.endswith("held=1 interrupted=1\n")


def test_a_running_report_no_worker_holds_is_interrupted_after_the_grace():
    # Nothing holds a lock here: no worker applies any of them (PostgreSQL: row locks; SQLite: the write lock).
    stopped = report(Status.RUNNING, hours_ago=0, attempts=1)
    stopped.started_at = NOW - timedelta(minutes=10)
    stopped.save()
    just_started = report(Status.RUNNING, hours_ago=0.5)
    just_started.started_at = NOW - timedelta(seconds=20)  # marked running, about to take its lock
    just_started.save()

    marked = health.mark_interrupted(now=NOW)

    assert [r.pk for r in marked] == [stopped.pk]
    statuses = dict(DeactivationReport.objects.values_list("pk", "status"))
    assert statuses == {stopped.pk: Status.INTERRUPTED, just_started.pk: Status.RUNNING}
    assert health.retry_interrupted() == [stopped.pk]


def test_healthz_is_public_and_says_nothing_but_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_ingestion_needs_staff_or_the_token(client, settings):
    settings.HEALTH_TOKEN = "s3cret-token"
    report(Status.SUCCEEDED, hours_ago=2, now=timezone.now())  # the endpoint judges ages by the clock

    assert client.get("/healthz/ingestion").status_code == 401
    assert client.get("/healthz/ingestion", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/healthz/ingestion", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["held"] == 0 and body["interrupted"] == 0
    assert body["sources"]["aws"]["age_hours"] == pytest.approx(2, abs=0.01)
    assert body["sources"]["aws"]["last_failure"] is None

    client.force_login(User.objects.create_user("staff", password="x", is_staff=True))
    assert client.get("/healthz/ingestion").status_code == 200


def test_healthz_ingestion_without_a_token_configured_refuses_an_empty_bearer(client, settings):
    settings.HEALTH_TOKEN = ""
    assert client.get("/healthz/ingestion", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_healthz_ingestion_is_503_whenever_check_ingestion_fails(client, settings):
    settings.HEALTH_TOKEN = "t"
    report(Status.SUCCEEDED, hours_ago=40)
    report(Status.FAILED, hours_ago=1)
    report(Status.HELD, hours_ago=1)

    response = client.get("/healthz/ingestion", HTTP_AUTHORIZATION="Bearer t")

    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["status"] == "stale" and body["held"] == 1 and body["sources"]["aws"]["stale"] is True
    assert body["sources"]["aws"]["last_failure"] is not None
    assert check()[0] == 1


def test_healthz_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/").status_code == 301


# /healthz against a database that is really gone: a child process whose DATABASE_URL names a closed port.
HEALTHZ_PROBE = (
    "from django.test import Client; import json; r = Client(HTTP_HOST='localhost').get('/healthz'); "
    "print(json.dumps({'code': r.status_code, 'body': r.json(), 'cache': r.get('Cache-Control', '')}))"
)


def healthz_in_child(database_url: str) -> dict:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": database_url, "SECURE_SSL_REDIRECT": "0"}
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", HEALTHZ_PROBE], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db(False)
def test_healthz_is_503_with_no_data_when_the_database_is_unreachable():
    closed = free_port()  # bound then released: nothing listens there

    answer = healthz_in_child(f"postgres://postgres@127.0.0.1:{closed}/sms_unreachable")

    assert answer["code"] == 503
    assert answer["body"] == {"status": "unavailable"}  # no error text, host or port in it
    assert "no-cache" in answer["cache"]


@pytest.mark.django_db(False)
def test_healthz_in_a_child_process_is_200_ok_while_its_database_answers(tmp_path):
    answer = healthz_in_child(f"sqlite:///{tmp_path / 'empty.sqlite3'}")

    assert (answer["code"], answer["body"]) == (200, {"status": "ok"})
