"""R12: every CSV the product hands out escapes spreadsheet formulas. The exports are found the way the URL
matrix finds pages — every URL that answers with a CSV — plus the export commands, and filled with names written
to be run as formulas."""

import csv
import io
import re
from urllib.parse import urlencode

import pytest

from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from contacts.csvio import E164, FORMULA_START
from contacts.models import Contact, SavedFilter, SenderCode, SubscriberList
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


SAFE_DISPOSITION = re.compile(r'attachment; filename="[a-z0-9][a-z0-9_-]*-\d{8}-\d{4}\.csv"')


@pytest.mark.parametrize("code", ['q";n=.exe', "4\r\nSet-Cookie: a=b", "45\u0678\u00e9/../x"])
def test_every_csv_download_names_its_file_with_a_safe_slug(world, code):
    # Issue 13 point 6: the sender code went into Content-Disposition as it was: a quote added a parameter, a
    # newline was a 500 (Django refuses a header with one). Every download URL, each sender code's export.
    sms = world[0]
    SenderCode.objects.filter(pk=sms.short.pk).update(code=code)
    SavedFilter.objects.update(name=f"Flash {code}")
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="a-long-password-1"))
    downloads = set()
    for page in all_pages(world):
        for query in ("", "?" + urlencode({"sender_code": code, "tab": "opted_out"})):
            response = client.get(page.path + query)
            # The ingestion health check answers 503 while ingestion is stale: its answer, not a fault (issue 16).
            assert response.status_code < 500 or page.path == "/healthz/ingestion", page.key + query
            if response.status_code == 200 and response.has_header("Content-Disposition"):
                assert SAFE_DISPOSITION.fullmatch(response["Content-Disposition"]), response["Content-Disposition"]
                downloads.add(page.key)
    assert {"/admin/contacts/smscontact/export.csv", "/admin/contacts/savedfilter/<int:pk>/export.csv"} <= downloads
