"""Remember when retention deleted an uploaded report's file (its row and counts stay)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("reports", "0004_used_signatures")]
    operations = [
        migrations.AddField(
            model_name="deactivationreport",
            name="file_removed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the stored upload was deleted, UPLOAD_RETENTION_DAYS after it came.",
                null=True,
            ),
        ),
    ]
