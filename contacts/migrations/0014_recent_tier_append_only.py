"""The ledger's recent tier keeps no index at all on PostgreSQL: a report appends to it and nothing else.

Its rows are read whole (the fold), by number through a hash join (R13 and the answers), or by day (the
prune) — never by id. The id's B-tree was still half the cost of appending a million-row report (1.2 s
against 0.5 s per million rows in a `COPY`, measured here), and the ledger may add at most a fifth to a
report's ingestion (issue 17). The id keeps its sequence, so every row still has its own.
"""

from django.db import migrations

TABLE = "contacts_recentdeactivation"


def drop_key(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {TABLE}_pkey")


def restore_key(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0013_event_checks_by_construction")]

    operations = [migrations.RunPython(drop_key, restore_key)]
