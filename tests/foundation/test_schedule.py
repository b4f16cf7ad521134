"""The beat schedule lives in the database after `migrate`, where staff can edit it."""

import pytest
from django_celery_beat.models import PeriodicTask

from smsprogram.celery import app

pytestmark = pytest.mark.django_db


def test_daily_deactivation_ingestion_is_scheduled_at_10_utc():
    task = PeriodicTask.objects.get(task="reports.tasks.ingest_latest_report", kwargs="{}")  # aws: the default
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute, str(task.crontab.timezone)) == ("10", "0", "UTC")


def test_suspension_expiry_is_scheduled_hourly():
    task = PeriodicTask.objects.get(task="contacts.tasks.expire_suspensions")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (1, "hours")


def test_every_scheduled_task_is_a_registered_task():
    app.loader.import_default_modules()
    for name in PeriodicTask.objects.values_list("task", flat=True):
        assert name in app.tasks, name


def test_the_list_tallies_are_folded_every_ten_minutes():
    task = PeriodicTask.objects.get(task="contacts.tasks.compact_tallies")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (10, "minutes")
