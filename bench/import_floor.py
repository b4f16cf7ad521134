"""The yardstick bench.imports measures the subscriptions import against, in a fresh process; prints JSON.

floor: what the job needs at least — a Python regex takes each row's number to E.164, one `COPY` loads the rows
    into a temporary table, and two `INSERT … SELECT … ON CONFLICT` statements add the contacts and the
    subscriptions, committed. The target tables are copies of contacts_contact and contacts_subscription with
    the same columns, defaults and indexes (the unique keys among them) and the same deferred foreign keys:
    what the schema makes every import pay. Left out: duplicate rows of a file (the newest consent wins), R4's
    and R13's refusals, the consent renewals, the row errors and their samples, and the list tallies' triggers.
"""

import json
import os
import sys
import time

import psycopg

from bench.floors import copy_us_numbers

TABLES = """
DROP TABLE IF EXISTS floor_subscription; DROP TABLE IF EXISTS floor_contact;
CREATE TABLE floor_contact (LIKE contacts_contact INCLUDING ALL);
CREATE TABLE floor_subscription (LIKE contacts_subscription INCLUDING ALL);
ALTER TABLE floor_contact ADD FOREIGN KEY (carrier_id) REFERENCES contacts_carrier (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE floor_subscription ADD FOREIGN KEY (contact_id) REFERENCES floor_contact (id)
    DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE floor_subscription ADD FOREIGN KEY (list_id) REFERENCES contacts_subscriberlist (id)
    DEFERRABLE INITIALLY DEFERRED;
"""
INSERTS = """
INSERT INTO floor_contact (phone, email, carrier_id, created_at)
SELECT r.phone, r.email, c.id, now() FROM floor_rows r LEFT JOIN contacts_carrier c ON lower(c.name) = lower(r.carrier)
ON CONFLICT (phone) DO NOTHING;
INSERT INTO floor_subscription (contact_id, list_id, status, opted_in_at, opt_in_source, opt_out_reason)
SELECT c.id, l.id, 'opted_in', r.opted_in_at, 'import', ''
FROM floor_rows r JOIN floor_contact c ON c.phone = r.phone
JOIN contacts_sendercode s ON s.code = r.sender_code JOIN contacts_subscriberlist l ON l.sender_code_id = s.id
    AND l.name = r.list
ON CONFLICT (contact_id, list_id) DO NOTHING;
"""


def floor(conn: psycopg.Connection, path: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE floor_rows (phone text, sender_code text, list text, opted_in_at timestamptz, "
            "email text, carrier text)"
        )
        with open(path) as rows, cursor.copy("COPY floor_rows FROM STDIN") as copy:
            next(rows)
            copy_us_numbers(copy, (line.rstrip("\n").split(",") for line in rows))
        cursor.execute("ANALYZE floor_rows")
        cursor.execute(INSERTS)
    conn.commit()


def main() -> None:
    path = sys.argv[1]
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute(TABLES)
        conn.commit()
        started = time.perf_counter()
        floor(conn, path)
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE floor_subscription; DROP TABLE floor_contact")
        conn.commit()
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
