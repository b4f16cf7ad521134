"""Audience filters, the screens' proxy models and export permission, the chart's covering index,
and the staff groups Viewer / Operator / Admin (R12)."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

from contacts.roles import sync_groups


def create_groups(apps, schema_editor):
    # Permissions are normally created after the whole migrate; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    sync_groups(apps)


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Viewer", "Operator", "Admin"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0004_expiry_schedule"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SavedFilter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=120, unique=True)),
                (
                    "opted_in_after",
                    models.DateField(blank=True, help_text="Latest opt-in on or after this day (UTC).", null=True),
                ),
                (
                    "opted_in_before",
                    models.DateField(blank=True, help_text="Latest opt-in before this day (UTC).", null=True),
                ),
                (
                    "has_email",
                    models.CharField(
                        blank=True,
                        choices=[("yes", "Has an email address"), ("no", "Has no email address")],
                        max_length=3,
                    ),
                ),
                (
                    "last_opt_in_source",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("deactivation_report", "Deactivation report"),
                            ("delivery_receipt", "Delivery receipt"),
                            ("carrier_notice", "Carrier notice"),
                            ("operator", "Operator"),
                            ("import", "Import"),
                        ],
                        max_length=24,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name": "audience filter",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="ListHealth",
            fields=[],
            options={
                "verbose_name": "list health",
                "verbose_name_plural": "list health",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("contacts.subscriberlist",),
        ),
        migrations.CreateModel(
            name="SmsContact",
            fields=[],
            options={
                "verbose_name": "SMS contact",
                "verbose_name_plural": "SMS contacts",
                "permissions": [("export_numbers", "Can export raw phone numbers")],
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("contacts.subscription",),
        ),
        migrations.RemoveIndex(
            model_name="subscription",
            name="sub_list_status_out_at",
        ),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(
                fields=["list", "status", "opted_out_at", "opt_out_reason"], name="sub_list_status_out_reason"
            ),
        ),
        migrations.AddField(
            model_name="savedfilter",
            name="carrier",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to="contacts.carrier"
            ),
        ),
        migrations.AddField(
            model_name="savedfilter",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="savedfilter",
            name="lists",
            field=models.ManyToManyField(
                blank=True, help_text="Any of these lists; none means every list.", to="contacts.subscriberlist"
            ),
        ),
        migrations.RunPython(create_groups, delete_groups),
    ]
