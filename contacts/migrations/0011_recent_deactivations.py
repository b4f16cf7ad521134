"""The ledger's recent tier, written by report ingestion, and the hourly fold into the ledger proper.

A report's rows are appended here (no B-tree but the id's, which only grows at its right edge) and moved
into contacts_deactivatednumber by `contacts.tasks.fold_ledger`, sorted, off the ingestion path.
"""

import django.db.models.deletion
from django.db import migrations, models

TASK = "contacts.tasks.fold_ledger"
NAME = "Fold recent deactivations into the reassigned-number ledger"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(name=NAME, defaults={"task": TASK, "interval": hourly, "enabled": True})


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0010_ledger_retention_schedule"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="RecentDeactivation",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("number", models.BigIntegerField(help_text="The E.164 number's digits: +12025550143 is 12025550143.")),
                ("deactivated_on", models.DateField(help_text="The UTC day the carrier gives.")),
                (
                    "ref_type",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="contenttypes.contenttype",
                    ),
                ),  # fmt: skip
                ("ref_id", models.BigIntegerField(blank=True, null=True)),
            ],
            options={"verbose_name": "recent deactivation"},
        ),
        migrations.RunPython(schedule, unschedule),
    ]
