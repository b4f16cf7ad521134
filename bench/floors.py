"""The two yardsticks bench.run measures the product against, each in a fresh process; prints JSON seconds.

floor: what the job needs at least — a Python regex takes each row's number to E.164, one `COPY` loads
    (number, day) into a temporary table, one `UPDATE … FROM` join opts the subscriptions out.
peer:  the open-source peer's approach — the file read whole into memory, its digits sent as one `VALUES`
    list inside the `UPDATE`, joined on `replace(phone, '+', '')`.

Neither records events, checks consent dates (R3), keeps a report row or updates the tallies: the list
tallies' triggers are switched off for their session, and each rolls back so every run starts the same.
"""

import json
import os
import re
import sys
import time
from collections.abc import Iterable

import psycopg

NOT_DIGITS = re.compile(r"\D")
COPY_LINES = 50_000  # written to COPY in chunks: one write per row costs more than the regex
UPDATE = """
UPDATE contacts_subscription s SET status = 'opted_out', opted_out_at = d.day, opt_out_reason = 'deactivated'
FROM {source} JOIN contacts_contact c ON {match}
WHERE s.contact_id = c.id AND s.status = 'opted_in'
"""


def floor(conn: psycopg.Connection, path: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE deact (phone text, day date)")
        with open(path) as report, cursor.copy("COPY deact (phone, day) FROM STDIN") as copy:
            next(report)
            copy_us_numbers(copy, (line.rstrip("\n").split(",") for line in report))
        cursor.execute(UPDATE.format(source="deact d", match="c.phone = d.phone"))


def copy_us_numbers(copy, rows: Iterable[list[str]]) -> None:
    """Rows whose first field is a US number, as COPY text lines with it in E.164 (a regex takes the digits);
    the others dropped. Written in chunks: one write per row costs more than the regex."""
    lines = []
    for raw, *rest in rows:
        digits = NOT_DIGITS.sub("", raw)
        if len(digits) == 10:
            digits = "1" + digits
        if len(digits) == 11 and digits[0] == "1":
            lines.append("\t".join(["+" + digits, *rest]) + "\n")
        if len(lines) == COPY_LINES:
            copy.write("".join(lines))
            lines = []
    copy.write("".join(lines))


def peer(conn: psycopg.Connection, path: str) -> None:
    with open(path) as report:
        rows = report.read().splitlines()[1:]
    values = []
    for row in rows:
        raw, day = row.split(",")
        digits = NOT_DIGITS.sub("", raw)
        values.append(f"('{'1' + digits if len(digits) == 10 else digits}', DATE '{day}')")
    source = f"(VALUES {', '.join(values)}) AS d (phone, day)"
    with conn.cursor() as cursor:
        cursor.execute(UPDATE.format(source=source, match="replace(c.phone, '+', '') = d.phone"))


def main() -> None:
    how, path = sys.argv[1], sys.argv[2]
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute("SET session_replication_role = replica")  # the tallies' triggers are product work
        started = time.perf_counter()
        {"floor": floor, "peer": peer}[how](conn, path)
        seconds = time.perf_counter() - started
        conn.rollback()
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
