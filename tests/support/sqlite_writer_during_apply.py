"""Run by tests/reports/test_sqlite_apply_lock.py in its own process, on a SQLite file of its own.

A report is ingested while, mid-apply, a second connection (another thread, as a second process would be)
commits a write and runs the interrupted-report check. Prints one JSON line: what each of them saw.
"""

import json
import sys
import threading
import time
from datetime import date

import django


def main(report_path: str) -> None:
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from contacts.models import SenderCode
    from reports import health, services
    from tests.factories import SubscriptionFactory

    call_command("migrate", verbosity=0)
    SubscriptionFactory(contact__phone="+12025550143", list__sender_code__code="45678")
    seen: dict = {}

    def other_connection() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 300")  # the check gives up soon instead of after 30 s
            later = health.timezone.now() + 60 * health.LOCK_GRACE  # long past the grace: only a lock protects it
            seen["interrupted"] = [report.pk for report in health.mark_interrupted(now=later)]
            connection.cursor().execute("PRAGMA busy_timeout = 30000")
            SenderCode.objects.filter(code="45678").update(name="Renamed meanwhile")  # waits its turn
            seen["write"] = "committed"
        except Exception as exc:  # noqa: BLE001 — reported to the test, which says what it expected
            seen["write"] = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    staged = services.stage_report

    def stage_then_let_another_write(*args, **kwargs):
        staged(*args, **kwargs)
        other = threading.Thread(target=other_connection)
        other.start()
        time.sleep(1.0)  # the other connection commits now, if anything lets it
        seen["thread"] = other

    services.stage_report = stage_then_let_another_write
    with open(report_path, "rb") as stream:
        report = services.report_for_upload(stream, file_name="report.csv", report_date=date(2026, 11, 20))
    try:
        result = services.ingest(report)
        seen["ingest"] = f"{result.message}: opted_out={result.report.opted_out}"
    except Exception as exc:  # noqa: BLE001
        seen["ingest"] = f"{type(exc).__name__}: {exc}"
    if "thread" in seen:
        seen.pop("thread").join(timeout=60)
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1])
