"""Indexes for the admin screens at a large customer's scale (issue 20), built CONCURRENTLY on PostgreSQL so
ingestion and the screens keep writing and reading while tens of millions of rows are indexed."""

from django.db import migrations, models

from smsprogram.indexes import AddIndexConcurrently, create_concurrently_on_postgres

# The admin's search by the start of an email address (`^email`, `^contact__email`) compares
# UPPER(email) LIKE 'PREFIX%': without this index, a scan of every contact.
EMAIL_PREFIX = create_concurrently_on_postgres(
    "contact_email_prefix", "contacts_contact", "(UPPER(email::text) text_pattern_ops)"
)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("contacts", "0015_event_indexes_led_by_composites"),
    ]

    operations = [
        migrations.RunPython(*EMAIL_PREFIX, atomic=False),
        AddIndexConcurrently(
            model_name="optoutevent",
            index=models.Index(fields=["source", "occurred_at", "sender_code", "id"], name="event_source_code"),
        ),
        AddIndexConcurrently(
            model_name="subscription",
            index=models.Index(
                condition=models.Q(("status", "opted_out")),
                fields=["-opted_out_at", "-contact", "list", "opt_out_reason", "opt_out_event"],
                name="sub_out_page",
            ),
        ),
    ]
