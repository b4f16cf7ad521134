"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app."""

import os

from celery import Celery, Task, bootsteps, signals

from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")

app = Celery("smsprogram")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class ConfigurationGate(bootsteps.StartStopStep):
    """Refuse to start a worker on settings `manage.py check` calls errors: a worker runs no system checks, and
    an exception raised here stops it ("Unrecoverable error", exit code 1) before it takes a task."""

    def start(self, worker) -> None:
        from reports.checks import refuse_bad_configuration  # needs the apps loaded, as they are by now

        refuse_bad_configuration()


app.steps["worker"].add(ConfigurationGate)


@signals.beat_init.connect
def sync_source_schedules(**kwargs) -> None:
    """Beat runs the schedules of the sources DEACT_SOURCES names, as it stands when beat starts (issue 18)."""
    from reports.schedules import sync_source_schedules as sync  # needs the apps loaded, as they are by now

    sync()


@app.task(name="smsprogram.ping")
def ping() -> str:
    """Answer from a worker: lets operators and tests check the broker round trip."""
    return "pong"


def enqueue_on_commit(task: Task, *args) -> None:
    """Queue `task(*args)` once the current transaction commits; a failure is logged, never the request's error.

    In-process (no REDIS_URL) the task runs right there, so robust=True is what keeps a failing ingest from
    becoming the staff member's error page. The callback is a named function: Django's robust path logs the
    callback's __qualname__, which a functools.partial lacks (that AttributeError was the 500, issue 13).
    """

    def queue() -> None:
        task.delay(*args)

    queue.__qualname__ = f"{task.name}.delay"
    transaction.on_commit(queue, robust=True)
