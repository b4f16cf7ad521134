"""Opt-out events lose the single-column indexes that event_contact_code, event_code_occurred and event_ref
already lead with: three fewer B-trees to update for each of a report's events (issue 14)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0014_recent_tier_append_only"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterField(
            model_name="optoutevent",
            name="contact",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="opt_out_events",
                to="contacts.contact",
            ),
        ),
        migrations.AlterField(
            model_name="optoutevent",
            name="ref_type",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                to="contenttypes.contenttype",
            ),
        ),
        migrations.AlterField(
            model_name="optoutevent",
            name="sender_code",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="opt_out_events",
                to="contacts.sendercode",
            ),
        ),
    ]
