"""Issue 13 (4): a number searched on a screen never appears in a URL — so never in an access log, the browser's
history or a Referer. The search boxes post; the answer redirects to a URL holding a token that stands for the
number in the staff member's own session; every link on the result page (tabs, pages, export, a number's
history and its way back) carries the token only."""

import re

import pytest

from django.test import Client
from django.urls import reverse

from reports.models import Channel
from reports.notices import NoticeIntake
from reports.receipts import ReceiptIntake
from tests.screens.conftest import staff_in
from tests.support.phone_scan import leaks

SCREEN = reverse("admin:contacts_smscontact_changelist")
TYPED = "(202) 555-0102"  # the stopped number, as staff type it


def hrefs(response) -> list[str]:
    return re.findall(r'href="([^"]*)"', response.content.decode())


def assert_no_number_in(urls: list[str], number: str) -> None:
    leaking = [url for url in urls if leaks(url, [number])]
    assert not leaking, leaking


def test_the_number_box_posts_and_the_page_it_leads_to_names_no_number(program, operator_client):
    number = program.stopped.phone
    posted = operator_client.post(SCREEN, {"sender_code": "45678", "tab": "opted_out", "q": TYPED, "reason": "stop"})
    assert posted.status_code == 303
    assert_no_number_in([posted["Location"]], number)
    assert "reason=stop" in posted["Location"]

    page = operator_client.get(posted["Location"])
    assert [row.phone for row in page.context["page"].rows] == [number]
    assert f'value="{TYPED}"' in page.content.decode()  # the box still shows what was searched
    links = hrefs(page) + [url for _, _, url in page.context["tabs"]]
    assert any("/number/" in url for url in links) and any("export.csv" in url for url in links)
    assert_no_number_in(links, number)

    history = next(url for url in hrefs(page) if "/number/" in url).replace("&amp;", "&")
    assert operator_client.get(history).status_code == 200
    export = next(url for url in hrefs(page) if "export.csv" in url).replace("&amp;", "&")
    rows = b"".join(operator_client.get(export).streaming_content).decode().splitlines()
    assert [line.split(",")[0] for line in rows[1:]] == [number]  # the token filters the export too


def test_a_number_typed_into_the_url_moves_to_a_token(program, operator_client):
    typed = operator_client.get(SCREEN, {"sender_code": "45678", "tab": "opted_out", "q": "2025550102"})
    assert typed.status_code == 303
    assert_no_number_in([typed["Location"]], program.stopped.phone)


def test_a_token_is_the_searchers_own(program, operator_client):
    posted = operator_client.post(SCREEN, {"sender_code": "45678", "tab": "opted_out", "q": TYPED})
    other = Client()
    other.force_login(staff_in("Operator", "another-operator"))
    page = other.get(posted["Location"])
    assert page.status_code == 200
    assert page.context["page"].rows == []
    assert "This number search has expired: search again." in page.content.decode()


def test_a_mistyped_number_stays_out_of_the_url_and_is_named(program, operator_client):
    posted = operator_client.post(SCREEN, {"sender_code": "45678", "tab": "opted_out", "q": "+1202555010"})
    assert "555010" not in posted["Location"]
    page = operator_client.get(posted["Location"])
    assert "Not a phone number: too short." in page.content.decode()


def test_text_that_is_no_number_searches_as_before(program, operator_client):
    posted = operator_client.post(SCREEN, {"sender_code": "45678", "tab": "opted_out", "q": "hello"})
    assert "q=hello" in posted["Location"]


ADMINS = ["contacts/contact", "contacts/subscription", "contacts/optoutevent", "contacts/suspension",
          "reports/deliveryreceipt", "reports/carriernotice"]  # fmt: skip


@pytest.mark.parametrize("admin_path", ADMINS)
def test_each_admin_number_search_posts_and_redirects_to_a_token(program, as_role, admin_path):
    client = as_role("superuser")
    searched = program.suspended if admin_path == "contacts/suspension" else program.stopped
    typed = f"({searched.phone[2:5]}) {searched.phone[5:8]}-{searched.phone[8:]}"
    at = program.now.isoformat()
    ReceiptIntake(channel=Channel.API).ingest_items(
        [{"phone": program.stopped.phone, "sender_code": "45678", "error_code": 4001, "occurred_at": at}]
    )
    NoticeIntake(channel=Channel.API).ingest_items(
        [{"phone": program.stopped.phone, "carrier": "Verizon", "event": "porting", "occurred_at": at}]
    )
    url = f"/admin/{admin_path}/"
    box = client.get(url).content.decode()
    assert re.search(r'<form id="changelist-search" method="post"', box)
    posted = client.post(url, {"q": typed})
    assert posted.status_code == 303
    assert_no_number_in([posted["Location"]], searched.phone)
    page = client.get(posted["Location"])
    assert page.context["cl"].result_count >= 1
    assert f'value="{typed}"' in page.content.decode()  # the box shows what was searched
    assert_no_number_in(hrefs(page), searched.phone)


def test_an_admin_search_that_is_not_a_number_keeps_its_text_in_the_url(program, as_role):
    posted = as_role("superuser").post("/admin/contacts/contact/", {"q": "one@"})
    assert posted.status_code == 303 and "q=one%40" in posted["Location"]


def test_other_admins_search_by_get_as_ever(as_role):
    box = as_role("superuser").get("/admin/contacts/carrier/").content.decode()
    assert re.search(r'<form id="changelist-search" method="get"', box)
