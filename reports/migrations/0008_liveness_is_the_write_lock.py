"""A report's heartbeat goes: on SQLite a live apply is the one holding the write lock (health.mark_interrupted)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0007_ingestion_watch_schedule"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="deactivationreport",
            name="heartbeat_at",
        ),
    ]
