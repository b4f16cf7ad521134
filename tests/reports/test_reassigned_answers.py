"""The ledger's answers through each door: `check_numbers FILE`, the signed POST /api/reassigned-numbers/,
the admin's paste page; and the ledger's rows on a number's history page."""

import io
import json
from datetime import date

import pytest

from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.urls import reverse

from contacts import ledger
from reports.models import UsedSignature
from tests.factories import ContactFactory
from tests.support.ledger import apply_report
from tests.support.signing import SECRET, signature, signed_post

pytestmark = pytest.mark.django_db
API = "/api/reassigned-numbers/"
PAGE = "admin:contacts_reassignedcheck_changelist"
A, B = "+12025550143", "+12025550144"
D = date(2026, 11, 20)


@pytest.fixture(autouse=True, params=["recent", "folded"])
def ledger_of_two(request, settings):
    settings.SIGNAL_API_SECRET = SECRET
    settings.LEDGER_RETENTION_DAYS = 100_000  # the fixed dates here never age out
    apply_report((A, D), (A, date(2026, 12, 1)), report_date=D)
    if request.param == "folded":
        ledger.fold()


def check(tmp_path, text: str) -> tuple[str, str]:
    path = tmp_path / "numbers.csv"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    call_command("check_numbers", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_check_numbers_answers_each_row_in_input_order_echoing_what_was_given(tmp_path):
    out, err = check(
        tmp_path,
        "consented_at,phone\n"
        "2026-11-01,(202) 555-0143\n"
        "2026-11-21T08:00:00+00:00,+1 202-555-0144\n"
        "2026-01-01,2025550144\n"
        "2026-11-01,call me\n"
        "2026-11-25,2025550143\n",
    )
    assert out == (
        "phone,consented_at,answer,deactivated_on\n"
        "(202) 555-0143,2026-11-01,yes,2026-11-20\n"
        "+1 202-555-0144,2026-11-21T08:00:00+00:00,no,\n"
        "2025550144,2026-01-01,no_data,\n"
        "call me,2026-11-01,invalid,\n"
        "2025550143,2026-11-25,yes,2026-12-01\n"
    )
    assert err == "rows=5 yes=2 no=1 no_data=1 invalid=1\n"


def test_check_numbers_steps_through_a_file_larger_than_one_batch(tmp_path):
    rows = [f"+1202{5_550_000 + n},2026-11-21" for n in range(10_050)]
    out, _ = check(tmp_path, "phone,consented_at\n" + "\n".join(rows) + "\n")
    lines = out.splitlines()
    assert len(lines) == 10_051
    assert lines[144] == "+12025550143,2026-11-21,yes,2026-12-01"
    assert lines[10_050] == "+12025560049,2026-11-21,no,"


def test_check_numbers_refuses_a_file_without_the_columns(tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("msisdn,date\n2025550143,2026-01-01\n")
    with pytest.raises(CommandError, match="missing phone, consented_at"):
        call_command("check_numbers", str(path), stdout=io.StringIO())


def test_the_api_answers_in_input_order(client):
    numbers = [
        {"phone": "(202) 555-0143", "consented_at": "2026-11-01"},
        {"phone": B, "consented_at": "2026-11-21T00:00:00Z"},
        {"phone": 2025550144, "consented_at": "2025-01-01"},
        {"phone": "12", "consented_at": "2026-11-01"},
    ]
    response = signed_post(client, API, {"numbers": numbers})
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"phone": "(202) 555-0143", "consented_at": "2026-11-01", "answer": "yes", "deactivated_on": "2026-11-20"},
            {"phone": B, "consented_at": "2026-11-21T00:00:00Z", "answer": "no", "deactivated_on": None},
            {"phone": 2025550144, "consented_at": "2025-01-01", "answer": "no_data", "deactivated_on": None},
            {"phone": "12", "consented_at": "2026-11-01", "answer": "invalid", "deactivated_on": None},
        ]
    }


def test_the_api_takes_10000_numbers_and_refuses_more_with_413(client):
    item = {"phone": A, "consented_at": "2026-11-01"}
    full = signed_post(client, API, {"numbers": [item] * 10_000})
    assert full.status_code == 200
    assert len(full.json()["results"]) == 10_000
    over = signed_post(client, API, {"numbers": [item] * 10_001})
    assert over.status_code == 413


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"phones": []}', b'{"numbers": {}}', b'{"numbers": ["+12025550143"]}',
     b'{"numbers": [{"phone": "+12025550143"}]}'],
)  # fmt: skip
def test_the_api_answers_400_to_a_malformed_body(client, body):
    assert signed_post(client, API, body).status_code == 400


def test_the_api_is_signed_like_the_intake_api(client, settings):
    body = json.dumps({"numbers": [{"phone": A, "consented_at": "2026-11-01"}]}).encode()
    assert signed_post(client, API, body, headers={}).status_code == 401
    assert signed_post(client, API, body, headers=signature(body, path=API, secret="another")).status_code == 401
    assert signed_post(client, API, body, headers=signature(body)).status_code == 401  # signed for another endpoint
    headers = signature(body, path=API)
    assert signed_post(client, API, body, headers=headers).status_code == 200
    assert signed_post(client, API, body, headers=headers).status_code == 401  # a replay
    assert UsedSignature.objects.count() == 1
    settings.SIGNAL_API_SECRET = ""
    assert signed_post(client, API, body).status_code == 503


def viewer(client) -> User:
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="Viewer"))
    client.force_login(user)
    return user


def test_staff_paste_numbers_and_see_the_answers(client):
    viewer(client)
    pasted = "phone,consented_at\n(202) 555-0143, 2026-11-01\n+12025550144\t2026-11-21\n2025550199 2020-01-01\nx,y\n"
    response = client.post(reverse(PAGE), {"numbers": pasted})
    assert response.status_code == 200
    rows = [(r.phone, r.consented_at, r.answer.value, r.deactivated_on) for r in response.context["results"]]
    assert rows == [
        ("(202) 555-0143", "2026-11-01", "yes", D),
        ("+12025550144", "2026-11-21", "no", None),
        ("2025550199", "2020-01-01", "no_data", None),
        ("x", "y", "invalid", None),
    ]
    content = response.content.decode()
    assert '<tr class="answer-yes">' in content and "2026-11-20" in content
    assert "The ledger covers deactivations from 2026-11-20." in content


def test_the_check_page_is_under_sms_program_and_needs_a_staff_login(client):
    assert client.get(reverse(PAGE)).status_code == 302
    viewer(client)
    index = client.get(reverse("admin:app_list", args=["contacts"])).content.decode()
    assert reverse(PAGE) in index and "Reassigned-number checks" in index
    assert client.get(reverse(PAGE)).status_code == 200
    too_many = "\n".join(f"{A},2026-01-01" for _ in range(10_001))
    response = client.post(reverse(PAGE), {"numbers": too_many})
    assert "at most 10,000 at once" in response.content.decode()


def test_a_numbers_history_shows_its_ledger_rows(admin_client):
    contact = ContactFactory(phone=A)
    response = admin_client.get(reverse("admin:contacts_smscontact_number", args=[contact.pk]))
    history = [entry for entry in response.context["history"] if entry.step.name == "DEACTIVATION_KNOWN"]
    assert [entry.at.date() for entry in history] == [D, date(2026, 12, 1)]
    assert history[0].ref_label.startswith("deactivation report #")
    assert "Known deactivation (ledger)" in response.content.decode()
