"""Delivery receipts and carrier notices: each recorded once (R6), with what it caused (R7)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0001_initial"),
        ("reports", "0002_deactivation_schedule"),
    ]

    operations = [
        migrations.CreateModel(
            name="CarrierNotice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("phone", models.CharField(help_text="E.164 (R11).", max_length=16)),
                (
                    "event",
                    models.CharField(
                        choices=[
                            ("deactivated", "Deactivated"),
                            ("disconnected", "Disconnected"),
                            ("porting", "Porting"),
                            ("suspended", "Suspended"),
                            ("reactivated", "Reactivated"),
                        ],
                        max_length=12,
                    ),
                ),
                ("occurred_at", models.DateTimeField()),
                ("source", models.CharField(choices=[("api", "HTTP API"), ("csv", "CSV file")], max_length=4)),
                ("received_at", models.DateTimeField()),
                ("status", models.CharField(choices=[("applied", "Applied"), ("rejected", "Rejected")], max_length=8)),
                ("rejection_reason", models.CharField(blank=True, max_length=200)),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("delivered", "Delivered"),
                            ("recorded", "Recorded only (temporary failure)"),
                            ("opted_out", "Opted out"),
                            ("suspended", "Suspended (R5)"),
                            ("reactivated", "Suspension ended"),
                            ("stale", "Stale: consent is newer (R3)"),
                            ("unchanged", "Nothing left to change"),
                            ("not_found", "Number on no list"),
                            ("unsupported", "Carrier does not suspend"),
                        ],
                        max_length=12,
                    ),
                ),
                (
                    "carrier",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="notices", to="contacts.carrier"
                    ),
                ),
            ],
            options={
                "ordering": ["-received_at", "-id"],
                "indexes": [
                    models.Index(fields=["phone", "-occurred_at"], name="notice_phone"),
                    models.Index(fields=["-received_at"], name="notice_received"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("phone", "carrier", "event", "occurred_at"), name="notice_once")
                ],
            },
        ),
        migrations.CreateModel(
            name="DeliveryReceipt",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("phone", models.CharField(help_text="E.164 (R11).", max_length=16)),
                ("error_code", models.PositiveIntegerField(blank=True, help_text="Blank: delivered.", null=True)),
                ("occurred_at", models.DateTimeField()),
                (
                    "message_id",
                    models.CharField(blank=True, help_text="The provider's id for the send.", max_length=128),
                ),
                ("source", models.CharField(choices=[("api", "HTTP API"), ("csv", "CSV file")], max_length=4)),
                ("received_at", models.DateTimeField()),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("delivered", "Delivered"),
                            ("recorded", "Recorded only (temporary failure)"),
                            ("opted_out", "Opted out"),
                            ("suspended", "Suspended (R5)"),
                            ("reactivated", "Suspension ended"),
                            ("stale", "Stale: consent is newer (R3)"),
                            ("unchanged", "Nothing left to change"),
                            ("not_found", "Number on no list"),
                            ("unsupported", "Carrier does not suspend"),
                        ],
                        max_length=12,
                    ),
                ),
                (
                    "carrier",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to="contacts.carrier"
                    ),
                ),
                (
                    "sender_code",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="receipts", to="contacts.sendercode"
                    ),
                ),
            ],
            options={
                "ordering": ["-received_at", "-id"],
                "indexes": [
                    models.Index(fields=["phone", "-occurred_at"], name="receipt_phone"),
                    models.Index(fields=["-received_at"], name="receipt_received"),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("message_id", ""), _negated=True),
                        fields=("message_id",),
                        name="receipt_message_once",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("error_code__isnull", False), ("message_id", "")),
                        fields=("phone", "sender_code", "error_code", "occurred_at"),
                        name="receipt_failure_once",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("error_code__isnull", True), ("message_id", "")),
                        fields=("phone", "sender_code", "occurred_at"),
                        name="receipt_delivery_once",
                    ),
                ],
            },
        ),
    ]
