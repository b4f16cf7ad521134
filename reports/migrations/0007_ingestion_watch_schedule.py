"""Schedule the ingestion watch (every minute: interrupted reports) and the freshness check (hourly: stale)."""

from django.db import migrations

TASKS = {
    "Find interrupted deactivation reports and retry them": ("reports.tasks.watch_ingestion", 1, "minutes"),
    "Alert when deactivation report ingestion is stale": ("reports.tasks.check_ingestion_freshness", 1, "hours"),
}


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, (task, every, period) in TASKS.items():
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval, "enabled": True})


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=list(TASKS)).delete()


class Migration(migrations.Migration):
    dependencies = [("reports", "0006_held_interrupted_alerts")]
    operations = [migrations.RunPython(schedule, unschedule)]
