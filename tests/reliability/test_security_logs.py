"""R12: no log line at INFO or above carries a full phone number. Every record is captured through a whole day
of intake — an import, a report upload and a failed one, receipts and notices by API and by file, a manual
opt-out, refused API calls — and scanned for E.164 numbers, ten-digit runs, and the numbers themselves in
any of their written forms."""

import json
import logging
from datetime import date

import pytest

from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from contacts.models import Carrier, Subscription
from reports import services
from tests.factories import ContactFactory, SenderCodeFactory, SubscriberListFactory, SubscriptionFactory
from tests.reports.builders import report_csv, upload
from tests.support.phone_scan import leaks
from tests.support.signing import NOTICES, RECEIPTS, SECRET, signature

pytestmark = pytest.mark.django_db

DAY = date(2026, 11, 20)


@pytest.fixture(autouse=True)
def signal_secret(settings):
    settings.SIGNAL_API_SECRET = SECRET


def day_of_intake(client, tmp_path) -> list[str]:
    """Everything a production day does with numbers; returns the numbers it used."""
    code = SenderCodeFactory(code="45678")
    alerts = SubscriberListFactory(sender_code=code, name="Alerts")
    verizon = Carrier.objects.get(name="Verizon")
    phones = [f"+1202555{n:04d}" for n in range(141, 150)]
    subs = [SubscriptionFactory(contact=ContactFactory(phone=p, carrier=verizon), list=alerts) for p in phones[:6]]

    # An operator's import, with numbers written the ways people write them, a bad row and a failed file.
    imports = tmp_path / "subscriptions.csv"
    imports.write_text(
        "phone,sender_code,list,opted_in_at\n"
        f"(202) 555-{phones[6][-4:]},45678,Alerts,2026-01-02\n"
        f"{phones[7][2:]},45678,Alerts,2026-01-02\n"
        f"{phones[8]}5,45678,Alerts,2026-01-02\n"  # a number too long
    )
    call_command("import_subscriptions", str(imports))
    with pytest.raises(CommandError):
        call_command("import_subscriptions", str(tmp_path / "missing.csv"))

    # A deactivation report with good and bad rows, and files that fail whole.
    bad_row = f"{phones[1][:-1]}x"
    services.ingest(upload(report_csv((phones[0], DAY)) + f"{bad_row},{DAY}\n".encode()))
    with pytest.raises(services.ReportFailed):
        services.ingest(upload(f"name,msisdn_of_someone\nAda,{phones[2]}x\n".encode() * 3, report_date=DAY))
    with pytest.raises(services.ReportFailed):
        services.ingest(upload(b"\x00\x01" * 1000, report_date=DAY))

    # Receipts and notices by API, with an invalid item, and by file; then refused requests.
    receipts = {"receipts": [
        {"phone": phones[1], "sender_code": "45678", "error_code": 629, "occurred_at": "2026-11-20T10:00:00Z"},
        {"phone": phones[2] + "99", "sender_code": "45678", "error_code": 629, "occurred_at": "2026-11-20T10:00:00Z"},
        {"phone": phones[2], "sender_code": phones[3], "error_code": 629, "occurred_at": "2026-11-20T10:00:00Z"},
    ]}  # fmt: skip
    notices = {"notices": [
        {"phone": phones[3], "carrier": "Verizon", "event": "suspended", "occurred_at": "2026-11-20"},
        {"phone": phones[4], "carrier": "Nobody", "event": "deactivated", "occurred_at": "2026-11-20"},
    ]}  # fmt: skip
    for path, payload in ((RECEIPTS, receipts), (NOTICES, notices)):
        body = json.dumps(payload).encode()
        assert (
            client.post(path, body, content_type="application/json", headers=signature(body, path=path)).status_code
            == 202
        )
        client.post(path, body, content_type="application/json", headers=signature(body, path=path, secret="wrong"))
    receipts_file = tmp_path / "receipts.csv"
    receipts_file.write_text(f"phone,sender_code,error_code,occurred_at\n{phones[4]},45678,603,2026-11-20\n"
                             f"{phones[4]}0,45678,603,2026-11-20\n")  # fmt: skip
    call_command("ingest_receipts", str(receipts_file))
    notices_file = tmp_path / "notices.csv"
    notices_file.write_text(f"phone,carrier,event,occurred_at\n{phones[5]},Verizon,disconnected,2026-11-20\n")
    call_command("ingest_carrier_notices", str(notices_file))

    # A manual opt-out in the admin, by an operator with the right to.
    client.force_login(User.objects.create_superuser("root", password="a-long-password-1"))
    response = client.post("/admin/contacts/subscription/",
                           {"action": "opt_out_selected", "_selected_action": [subs[3].pk]})  # fmt: skip
    assert response.status_code == 302
    assert Subscription.objects.filter(status=Subscription.Status.OPTED_OUT).count() == 5
    return phones


def test_no_log_line_at_info_or_above_carries_a_full_phone_number(client, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    numbers = day_of_intake(client, tmp_path)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    lines = [formatter.format(record) for record in records]  # with any traceback
    # The day was logged: applied batches, a failed report, a refused request.
    logged = "\n".join(lines)
    for expected in ("report applied", "report failed", "receipts ingested", "carrier notices ingested",
                     "signals applied source=operator", "signal api refused"):  # fmt: skip
        assert expected in logged
    leaking = {line: leaks(line, numbers) for line in lines if leaks(line, numbers)}
    assert not leaking, "full phone numbers in the logs:\n" + "\n".join(leaking)


def test_the_scan_finds_a_number_in_any_written_form():
    """The control: the scanner is not blind."""
    numbers = ["+12025550143"]
    for line in ("opted out +12025550143", "phone=2025550143", "phone=(202) 555-0143", "1-202-555-0143 failed",
                 "number 202.555.0143"):  # fmt: skip
        assert leaks(line, numbers), line
    for line in ("opted out +1******0143", "rows=2025 accepted=5550", "at 2026-11-20T10:00:00+00:00 bytes=1048576"):
        assert not leaks(line, numbers), line
