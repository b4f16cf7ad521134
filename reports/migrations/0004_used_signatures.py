"""Signal API signatures already accepted, so a replay within the timestamp window is refused."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0003_receipts_and_notices"),
    ]

    operations = [
        migrations.CreateModel(
            name="UsedSignature",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("digest", models.CharField(help_text="The request's HMAC-SHA256, hex.", max_length=64, unique=True)),
                (
                    "expires_at",
                    models.DateTimeField(db_index=True, help_text="When the signature's timestamp goes stale."),
                ),
            ],
        ),
    ]
