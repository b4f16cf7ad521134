"""Shared fixtures: real services (PostgreSQL, Redis, a Celery worker process) and factories.

A test that needs a service asks for its fixture. Without the service it is skipped with
the reason shown; with REQUIRE_SERVICES=1 (CI) a missing service fails the test instead.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from django.conf import settings
from django.db import connection

from smsprogram.celery import app as celery_app
from tests.support.providers import _feed_server, _twilio_server, feed, twilio  # noqa: F401  (HTTP source stand-ins)

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def require(available: bool, reason: str) -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) when a service a test needs is missing."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _tasks_in_process(request):
    """Tasks run in-process unless a test starts a real worker (then they go through Redis)."""
    eager = "celery_worker" not in request.fixturenames
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Passwords are not under test; the default hasher costs half a second per user created.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _tallies_agree(request):
    """After every test that wrote to the database, the triggers' tallies equal a recount (contacts.tallies)."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if not marker and not {"db", "transactional_db", "live_server"} & names:
        yield
        return
    transactional = bool({"transactional_db", "live_server"} & names) or bool(
        marker and marker.kwargs.get("transaction")
    )
    request.getfixturevalue("transactional_db" if transactional else "db")  # set up first, torn down after the check
    from contacts import tallies

    if transactional and connection.vendor == "sqlite":
        tallies.rebuild()  # a transactional test starts from a flush (see tallies.rebuild)
    yield
    assert tallies.drift() == {}


@pytest.fixture
def postgres(db):
    require(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL=postgres://…)")


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = settings.REDIS_URL
    require(bool(url), "needs Redis (set REDIS_URL=redis://…)")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require(False, f"Redis at REDIS_URL is not answering: {exc}")
    return url


def database_url_for_subprocess() -> str:
    """The test database as a DATABASE_URL, so a child process sees what the tests wrote."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        user = quote(db.get("USER") or "")
        password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"
    require(False, "a worker process needs a database it can share: PostgreSQL (set DATABASE_URL)")
    return ""


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url_for_subprocess(), "DEBUG": "1", **extra}
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@pytest.fixture(scope="session")
def shared_media_root(tmp_path_factory) -> Path:
    """Where uploaded files go, for the tests and the processes they start alike (MEDIA_ROOT)."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _uploads_in_shared_media_root(settings, shared_media_root):
    """Every test's uploads (reports, imports, exports) go to the session's temporary folder, never `media/`,
    and where a worker or command process started by a test finds them too."""
    settings.MEDIA_ROOT = str(shared_media_root)


@pytest.fixture(scope="session")
def celery_worker(redis_url, django_db_setup, django_db_blocker, tmp_path_factory, shared_media_root):
    """A real `celery worker` process on Redis, sharing the test database and uploaded files."""
    with django_db_blocker.unblock():
        env = child_env(REDIS_URL=redis_url, MEDIA_ROOT=str(shared_media_root))
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "smsprogram", "worker", "--pool", "solo",
             "--purge", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(timeout=1):
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"celery worker did not start:\n{log.read_text()[-3000:]}", pytrace=False)
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
