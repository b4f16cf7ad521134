"""The reassigned-number ledger (R13) and the page that answers from it.

Columns in the order that packs a row into 24 bytes on PostgreSQL (8 + 4 + 4 + 8): the number, its day,
the carrying record's type and id. The day gets a BRIN index there for the retention prune: rows arrive
day by day, so a few pages of summary cover 35M rows; SQLite gets a plain index.
"""

import django.db.models.deletion
from django.db import migrations, models


def add_day_index(apps, schema_editor):
    using = "USING BRIN (deactivated_on)" if schema_editor.connection.vendor == "postgresql" else "(deactivated_on)"
    schema_editor.execute(f"CREATE INDEX deactivated_number_day ON contacts_deactivatednumber {using}")


def drop_day_index(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS deactivated_number_day")


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0008_tally_schedule"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReassignedCheck",
            fields=[],
            options={
                "verbose_name": "reassigned-number check",
                "verbose_name_plural": "reassigned-number checks",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("contacts.contact",),
        ),
        migrations.CreateModel(
            name="DeactivatedNumber",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "number", "deactivated_on", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
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
                ),
                ("ref_id", models.BigIntegerField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "known deactivation",
            },
        ),
        migrations.RunPython(add_day_index, drop_day_index),
    ]
