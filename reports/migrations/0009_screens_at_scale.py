"""The receipts' and notices' date drill-down reads the ends of an index (issue 20); built CONCURRENTLY on
PostgreSQL so the intake keeps writing while millions of rows are indexed."""

from django.db import migrations, models

from smsprogram.indexes import AddIndexConcurrently


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("reports", "0008_liveness_is_the_write_lock"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="deliveryreceipt", index=models.Index(fields=["occurred_at"], name="receipt_occurred")
        ),
        AddIndexConcurrently(
            model_name="carriernotice", index=models.Index(fields=["occurred_at"], name="notice_occurred")
        ),
    ]
