"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsprogram.settings")

app = Celery("smsprogram")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="smsprogram.ping")
def ping() -> str:
    """Answer from a worker: lets operators and tests check the broker round trip."""
    return "pong"
