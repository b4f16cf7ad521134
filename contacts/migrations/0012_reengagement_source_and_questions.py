"""Re-engagement by email (issue 19): the `reengagement` source, the questions asked and answered, and the
queue screen's proxy."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0011_recent_deactivations"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReengagementQueue",
            fields=[],
            options={
                "verbose_name": "re-engagement queue",
                "verbose_name_plural": "re-engagement queue",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("contacts.subscription",),
        ),
        migrations.AlterField(
            model_name="optoutevent",
            name="source",
            field=models.CharField(
                choices=[
                    ("deactivation_report", "Deactivation report"),
                    ("delivery_receipt", "Delivery receipt"),
                    ("carrier_notice", "Carrier notice"),
                    ("operator", "Operator"),
                    ("import", "Import"),
                    ("reengagement", "Re-engagement"),
                ],
                max_length=24,
            ),
        ),
        migrations.AlterField(
            model_name="savedfilter",
            name="last_opt_in_source",
            field=models.CharField(
                blank=True,
                choices=[
                    ("deactivation_report", "Deactivation report"),
                    ("delivery_receipt", "Delivery receipt"),
                    ("carrier_notice", "Carrier notice"),
                    ("operator", "Operator"),
                    ("import", "Import"),
                    ("reengagement", "Re-engagement"),
                ],
                max_length=24,
            ),
        ),
        migrations.AlterField(
            model_name="subscription",
            name="opt_in_source",
            field=models.CharField(
                choices=[
                    ("deactivation_report", "Deactivation report"),
                    ("delivery_receipt", "Delivery receipt"),
                    ("carrier_notice", "Carrier notice"),
                    ("operator", "Operator"),
                    ("import", "Import"),
                    ("reengagement", "Re-engagement"),
                ],
                default="import",
                max_length=24,
            ),
        ),
        migrations.AlterField(
            model_name="suspension",
            name="source",
            field=models.CharField(
                choices=[
                    ("deactivation_report", "Deactivation report"),
                    ("delivery_receipt", "Delivery receipt"),
                    ("carrier_notice", "Carrier notice"),
                    ("operator", "Operator"),
                    ("import", "Import"),
                    ("reengagement", "Re-engagement"),
                ],
                max_length=24,
            ),
        ),
        migrations.CreateModel(
            name="Reengagement",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("opted_out_at", models.DateTimeField(help_text="The opt-out this question is about.")),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("deactivated", "Deactivated"),
                            ("disconnected", "Disconnected"),
                            ("porting", "Porting"),
                            ("permanent_failure", "Permanent failure"),
                            ("stop", "STOP"),
                            ("operator", "Operator"),
                        ],
                        help_text="That opt-out's reason.",
                        max_length=24,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("invited", "Invited"), ("reconsented", "Re-consented"), ("declined", "Declined")],
                        default="invited",
                        max_length=12,
                    ),
                ),
                ("invited_at", models.DateTimeField(help_text="When the latest link for it was exported.")),
                ("answered_at", models.DateTimeField(blank=True, null=True)),
                (
                    "subscription",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reengagements",
                        to="contacts.subscription",
                    ),
                ),
            ],
            options={
                "verbose_name": "re-engagement",
                "indexes": [models.Index(fields=["invited_at"], name="reengagement_invited_at")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("subscription", "opted_out_at"), name="one_reengagement_per_opt_out"
                    )
                ],
            },
        ),
    ]
