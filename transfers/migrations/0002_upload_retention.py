"""Remember when retention deleted an import's file, and schedule the daily retention task in django-celery-beat
(editable in the admin)."""

from django.db import migrations, models

TASK = "transfers.tasks.remove_expired_uploads"
NAME = "Delete uploaded files past UPLOAD_RETENTION_DAYS"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # A quiet hour, well before the 10:00 UTC report ingestion.
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(name=NAME, defaults={"task": TASK, "crontab": daily, "enabled": True})


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("transfers", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [
        migrations.AddField(
            model_name="importjob",
            name="file_removed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the stored upload was deleted, UPLOAD_RETENTION_DAYS after it came.",
                null=True,
            ),
        ),
        migrations.RunPython(schedule, unschedule),
    ]
