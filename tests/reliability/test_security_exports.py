"""R12: every CSV the product hands out escapes spreadsheet formulas. The exports are found the way the URL
matrix finds pages — every URL that answers with a CSV — plus the export commands, and filled with names written
to be run as formulas."""

import csv
import io

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from contacts.csvio import E164, FORMULA_START
from contacts.models import Contact, SenderCode, SubscriberList
from tests.reliability.conftest import all_pages

HOSTILE = {
    "list": '=HYPERLINK("http://evil.example","x")',
    "sender code": "+cmd|' /C calc'!A0",
    "email": "@SUM(1+1)*cmd|' /C calc'!A0@example.com",
}


def runs_as_formula(cell: str) -> bool:
    return cell.lstrip(" ").startswith(FORMULA_START) and not E164.match(cell)


def test_every_csv_export_escapes_formulas(world):
    sms = world[0]
    SubscriberList.objects.filter(pk=sms.flash.pk).update(name=HOSTILE["list"])
    SenderCode.objects.filter(pk=sms.short.pk).update(name=HOSTILE["sender code"])
    Contact.objects.update(email=HOSTILE["email"])
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="a-long-password-1"))
    exports, escaped = [], 0
    for page in all_pages(world):
        for query in ("", f"?sender_code={sms.short.code}&tab=opted_out"):
            response = client.get(page.path + query)
            if response.status_code != 200 or not response["Content-Type"].startswith("text/csv"):
                continue
            body = b"".join(response.streaming_content) if response.streaming else response.content
            cells = [cell for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) for cell in row]
            exports.append(page.key + query)
            assert not [cell for cell in cells if runs_as_formula(cell)], page.key + query
            escaped += sum(cell.startswith("'") and runs_as_formula(cell[1:]) for cell in cells)
    for command in (
        ["export_opted_out"],
        ["export_sendable", "--sender-code", sms.short.code, "--list", HOSTILE["list"]],
    ):
        out = io.StringIO()
        call_command(*command, stdout=out)
        cells = [cell for row in csv.reader(io.StringIO(out.getvalue())) for cell in row]
        exports.append(" ".join(command[:1]))
        assert not [cell for cell in cells if runs_as_formula(cell)], command
        escaped += sum(cell.startswith("'") and runs_as_formula(cell[1:]) for cell in cells)
    assert "/admin/contacts/smscontact/export.csv" in {key.split("?")[0] for key in exports}
    assert escaped > 0  # the hostile names reached the files, escaped
