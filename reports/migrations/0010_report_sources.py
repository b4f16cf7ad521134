"""Reports from Twilio and an HTTP feed beside AWS (issue 18), and each source's beat schedules: a daily fetch and
a backfill, editable in the admin, enabled for the sources DEACT_SOURCES names (reports.schedules keeps that so)."""

import json

from django.conf import settings
from django.db import migrations, models

DAILY = "reports.tasks.ingest_latest_report"
BACKFILL = "reports.tasks.backfill_reports"
AWS_DAILY_NAME = "Ingest the latest carrier deactivation report"  # 0002's, kept as it is: it takes aws by default
LABELS = {"aws": "AWS", "twilio": "Twilio", "http": "the HTTP feed"}


def names() -> dict[str, tuple[str, str]]:
    """Each new schedule's name: its task, and its source."""
    made = {f"Backfill carrier deactivation reports from {LABELS['aws']}": (BACKFILL, "aws")}
    for source in ("twilio", "http"):
        made[f"Ingest the latest carrier deactivation report from {LABELS[source]}"] = (DAILY, source)
        made[f"Backfill carrier deactivation reports from {LABELS[source]}"] = (BACKFILL, source)
    return made


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    enabled = set(getattr(settings, "DEACT_SOURCES", ["aws"]))
    crontabs = {}
    # Daily at 10:00 UTC like AWS's (a day's file is published the day after; retries cover a late one); the
    # backfill at 04:00 UTC fills any day a failure or an outage left out.
    for task, hour in ((DAILY, "10"), (BACKFILL, "4")):
        crontabs[task], _ = CrontabSchedule.objects.get_or_create(
            minute="0", hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
    for name, (task, source) in names().items():
        PeriodicTask.objects.get_or_create(name=name, defaults={
            "task": task, "crontab": crontabs[task], "kwargs": json.dumps({"source": source}),
            "enabled": source in enabled,
        })  # fmt: skip
    PeriodicTask.objects.filter(name=AWS_DAILY_NAME, task=DAILY).update(enabled="aws" in enabled)


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=list(names())).delete()
    PeriodicTask.objects.filter(name=AWS_DAILY_NAME, task=DAILY).update(enabled=True)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0009_screens_at_scale"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.AlterField(
            model_name="deactivationreport",
            name="origin",
            field=models.CharField(
                choices=[("s3", "AWS (S3)"), ("twilio", "Twilio"), ("http", "HTTP feed"), ("upload", "Uploaded file")],
                max_length=8,
                verbose_name="source",
            ),
        ),
        migrations.RunPython(schedule, unschedule),
    ]
