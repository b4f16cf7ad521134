"""Per-list tallies kept by triggers, so the dashboard never counts millions of subscriptions per view.

PostgreSQL: statement-level triggers read the statement's transition tables and append one row per list
(and per list, day and reason) the statement changed; a bulk update of 100,000 subscriptions costs one
grouped insert. SQLite: row-level triggers add each change into one row per key (upsert).
Each trigger counts a change as the old row taken away and the new row added, so any write (the
services' bulk statements, the admin, a cascade) keeps the tallies exact; the migration then counts
what is already there.
"""

import django.db.models.deletion
from django.db import migrations, models

ACTIVE_SUSPENSION = (
    "EXISTS (SELECT 1 FROM contacts_suspension p WHERE p.contact_id = {row}.contact_id AND p.ended_at IS NULL)"
)

# --- PostgreSQL: one function and trigger per table and operation (transition tables allow one event each) ---

PG_CHANGES = {
    "insert": ("REFERENCING NEW TABLE AS new_rows", "SELECT 1 AS sign, * FROM new_rows"),
    "update": (
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "SELECT -1 AS sign, * FROM old_rows UNION ALL SELECT 1 AS sign, * FROM new_rows",
    ),
    "delete": ("REFERENCING OLD TABLE AS old_rows", "SELECT -1 AS sign, * FROM old_rows"),
}

PG_SUBSCRIPTION_TALLY = """
INSERT INTO contacts_listtally (list_id, subscribers, suspended)
SELECT list_id, subscribers, suspended FROM (
    SELECT c.list_id, sum(c.sign) AS subscribers,
           sum(CASE WHEN {active} THEN c.sign ELSE 0 END) AS suspended
    FROM ({changes}) c WHERE c.status = 'opted_in' GROUP BY c.list_id
) d WHERE subscribers <> 0 OR suspended <> 0;
INSERT INTO contacts_optouttally (list_id, day, reason, count)
SELECT list_id, day, reason, n FROM (
    SELECT c.list_id, (c.opted_out_at AT TIME ZONE 'UTC')::date AS day, c.opt_out_reason AS reason, sum(c.sign) AS n
    FROM ({changes}) c WHERE c.status = 'opted_out' AND c.opted_out_at IS NOT NULL GROUP BY 1, 2, 3
) d WHERE n <> 0;
"""

# A suspension starting or ending moves every opted-in subscription of its contact in or out of `suspended`.
PG_SUSPENSION_TALLY = """
INSERT INTO contacts_listtally (list_id, subscribers, suspended)
SELECT list_id, 0, n FROM (
    SELECT s.list_id, sum(c.sign) AS n
    FROM ({changes}) c JOIN contacts_subscription s ON s.contact_id = c.contact_id AND s.status = 'opted_in'
    WHERE c.ended_at IS NULL GROUP BY s.list_id
) d WHERE n <> 0;
"""


def pg_triggers(table: str, body: str) -> list[str]:
    statements = []
    for op, (referencing, changes) in PG_CHANGES.items():
        name = f"{table}_tally_{op}"
        sql = body.format(changes=changes, active=ACTIVE_SUSPENSION.format(row="c"))
        statements += [
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {sql} RETURN NULL; END $$",
            f"CREATE TRIGGER {name} AFTER {op.upper()} ON {table} {referencing} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {name}()",
        ]
    return statements


# --- SQLite: row-level triggers; the old row is taken away, the new one added ---

SQLITE_SUBSCRIPTION_ROW = """
INSERT INTO contacts_listtally (list_id, subscribers, suspended)
SELECT {row}.list_id, {sign}, {sign} * {active} WHERE {row}.status = 'opted_in'
ON CONFLICT (list_id) DO UPDATE SET subscribers = subscribers + excluded.subscribers,
                                    suspended = suspended + excluded.suspended;
INSERT INTO contacts_optouttally (list_id, day, reason, count)
SELECT {row}.list_id, date({row}.opted_out_at), {row}.opt_out_reason, {sign}
WHERE {row}.status = 'opted_out' AND {row}.opted_out_at IS NOT NULL
ON CONFLICT (list_id, day, reason) DO UPDATE SET count = count + excluded.count;
"""

SQLITE_SUSPENSION_ROW = """
INSERT INTO contacts_listtally (list_id, subscribers, suspended)
SELECT s.list_id, 0, {sign} FROM contacts_subscription s
WHERE s.contact_id = {row}.contact_id AND s.status = 'opted_in' AND {row}.ended_at IS NULL
ON CONFLICT (list_id) DO UPDATE SET suspended = suspended + excluded.suspended;
"""


def sqlite_triggers(table: str, body: str) -> list[str]:
    def part(row: str, sign: int) -> str:
        return body.format(row=row, sign=sign, active=ACTIVE_SUSPENSION.format(row=row))

    bodies = {"insert": part("NEW", 1), "update": part("OLD", -1) + part("NEW", 1), "delete": part("OLD", -1)}
    return [
        f"CREATE TRIGGER {table}_tally_{op} AFTER {op.upper()} ON {table} BEGIN {sql} END" for op, sql in bodies.items()
    ]


SQLITE_KEYS = [
    "CREATE UNIQUE INDEX contacts_listtally_one_per_list ON contacts_listtally (list_id)",
    "CREATE UNIQUE INDEX contacts_optouttally_one_per_key ON contacts_optouttally (list_id, day, reason)",
]

# What is already there, counted once.
BACKFILL = """
INSERT INTO contacts_listtally (list_id, subscribers, suspended)
SELECT s.list_id, count(*), sum(CASE WHEN {active} THEN 1 ELSE 0 END)
FROM contacts_subscription s WHERE s.status = 'opted_in' GROUP BY s.list_id;
INSERT INTO contacts_optouttally (list_id, day, reason, count)
SELECT s.list_id, {day}, s.opt_out_reason, count(*)
FROM contacts_subscription s WHERE s.status = 'opted_out' AND s.opted_out_at IS NOT NULL GROUP BY 1, 2, 3;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        statements = pg_triggers("contacts_subscription", PG_SUBSCRIPTION_TALLY)
        statements += pg_triggers("contacts_suspension", PG_SUSPENSION_TALLY)
        day = "(s.opted_out_at AT TIME ZONE 'UTC')::date"
    else:
        statements = SQLITE_KEYS + sqlite_triggers("contacts_subscription", SQLITE_SUBSCRIPTION_ROW)
        statements += sqlite_triggers("contacts_suspension", SQLITE_SUSPENSION_ROW)
        day = "date(s.opted_out_at)"
    statements += [
        sql for sql in BACKFILL.format(active=ACTIVE_SUSPENSION.format(row="s"), day=day).split(";") if sql.strip()
    ]
    for sql in statements:
        schema_editor.execute(sql, params=None)


def uninstall(apps, schema_editor):
    for table in ("contacts_subscription", "contacts_suspension"):
        for op in PG_CHANGES:
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_tally_{op} ON {table}", params=None)
                schema_editor.execute(f"DROP FUNCTION IF EXISTS {table}_tally_{op}()", params=None)
            else:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_tally_{op}", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0006_lighter_subscription_writes"),
    ]

    operations = [
        migrations.CreateModel(
            name="ListTally",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("subscribers", models.BigIntegerField(default=0, help_text="Opted in, suspended or not (R5).")),
                ("suspended", models.BigIntegerField(default=0, help_text="Opted in with an active suspension.")),
                (
                    "list",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contacts.subscriberlist",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="OptOutTally",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
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
                        max_length=24,
                    ),
                ),
                ("count", models.BigIntegerField()),
                (
                    "list",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contacts.subscriberlist",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["list", "day"], name="optout_tally_list_day")],
            },
        ),
        migrations.AddIndex(
            model_name="suspension",
            index=models.Index(
                condition=models.Q(("ended_at__isnull", True)),
                fields=["-started_at", "-id"],
                name="suspension_active_latest",
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
