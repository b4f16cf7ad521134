"""The operator commands' contract (DESIGN.md): summaries, exit codes, data-only stdout."""

import io
import json

import pytest

from django.core.management import CommandError, call_command

from contacts.models import Carrier, Reason, SenderCode, Source, Subscription
from contacts.services import opt_out, suspend
from tests.factories import at

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path, text: str | bytes, name="subs.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


GOOD = """phone,sender_code,list,opted_in_at,email,carrier
(202) 555-0143,45678,News,2026-01-01,a@example.com,verizon
+1 202-555-0144,45678,News,2026-01-02T10:00:00Z,,
2025550145,+18885550100,Care,2026-01-03,,Boost
"""


def test_import_creates_lists_with_the_flag_and_prints_one_summary(tmp_path):
    out, _ = run("import_subscriptions", write(tmp_path, GOOD), "--create-lists")
    assert out.strip() == "rows=3 created=3 updated=0 unchanged=0 invalid=0 contacts_created=3"
    assert SenderCode.objects.get(code="+18885550100").kind == SenderCode.Kind.TOLL_FREE
    assert SenderCode.objects.get(code="45678").kind == SenderCode.Kind.SHORT_CODE
    sub = Subscription.objects.get(contact__phone="+12025550145")
    assert sub.contact.carrier == Carrier.objects.get(name="Sprint")  # matched by alias
    assert Subscription.objects.get(contact__phone="+12025550144").opted_in_at == at("2026-01-02T10:00:00")


def test_import_unknown_list_is_a_row_error_without_the_flag(tmp_path):
    out, err = run("import_subscriptions", write(tmp_path, GOOD))
    assert "invalid=3" in out
    assert "line 2: unknown sender code '45678'" in err
    assert not Subscription.objects.exists()


def test_import_names_bad_rows_and_applies_the_good_ones(tmp_path):
    text = GOOD + "not a number,45678,News,2026-01-01\n2025550146,45678,News,yesterday\n"
    text += "2025550147,45678,News,2999-01-01\n2025550148,45678,News,2026-01-01,,NoSuchCarrier\n"
    out, err = run("import_subscriptions", write(tmp_path, text), "--create-lists")
    assert "rows=7 created=3" in out and "invalid=4" in out
    assert "line 5:" in err and "line 6: opted_in_at is not an ISO-8601 timestamp" in err
    assert "line 7: opted_in_at is in the future" in err and "line 8: unknown carrier" in err


def test_import_refuses_an_old_consent_for_an_opted_out_number(tmp_path):
    run("import_subscriptions", write(tmp_path, GOOD), "--create-lists")
    opt_out(number="+12025550143", reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
            occurred_at=at("2026-06-01"))  # fmt: skip
    out, err = run("import_subscriptions", write(tmp_path, GOOD))
    assert "invalid=1" in out
    assert "line 2: opted out (deactivated) after this consent" in err


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        (b"msisdn;date\n2025550143;2026-01-01\n", "header must be phone,sender_code,list,opted_in_at"),
        (b"<html><body>502 Bad Gateway</body></html>", "header must be"),
    ],
)
def test_import_of_a_file_that_is_not_a_subscriptions_csv_fails_whole(tmp_path, content, message):
    with pytest.raises(CommandError, match=message):
        run("import_subscriptions", write(tmp_path, content))
    assert not Subscription.objects.exists()


def test_import_reports_latin1_rows_and_accepts_a_bom(tmp_path):
    content = "\ufeff".encode() + GOOD.encode() + b"2025550149,45678,News,2026-01-01,caf\xe9@example.com,\n"
    out, err = run("import_subscriptions", write(tmp_path, content), "--create-lists")
    assert "created=3" in out and "invalid=1" in out
    assert "line 5: not UTF-8 text" in err


def test_import_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run("import_subscriptions", str(tmp_path / "nope.csv"))


@pytest.fixture
def program(tmp_path):
    run("import_subscriptions", write(tmp_path, GOOD), "--create-lists")
    opt_out(number="+12025550143", reason=Reason.STOP, source=Source.DELIVERY_RECEIPT, occurred_at=at("2026-11-20"),
            sender_code=SenderCode.objects.get(code="45678"), error_code=603)  # fmt: skip
    verizon = Carrier.objects.get(name="Verizon")
    suspend(number="+12025550144", occurred_at=at("2026-11-21"), source=Source.CARRIER_NOTICE, carrier=verizon)


def test_export_opted_out_writes_only_csv_data_on_stdout(program):
    out, err = run("export_opted_out")
    assert out == (
        "phone,sender_code,list,reason,source,error_code,occurred_at\n"
        "+12025550143,45678,News,stop,delivery_receipt,603,2026-11-20T00:00:00+00:00\n"
    )
    assert err == "exported=1\n"


def test_export_opted_out_filters_by_sender_code_and_period(program):
    assert run("export_opted_out", "--sender-code", "+18885550100")[0].count("\n") == 1
    assert run("export_opted_out", "--since", "2026-11-21")[0].count("\n") == 1
    assert run("export_opted_out", "--since", "2026-11-20", "--until", "2026-11-21")[0].count("\n") == 2
    with pytest.raises(CommandError, match="no sender code"):
        run("export_opted_out", "--sender-code", "99999")


def test_list_stats_is_one_json_object_per_list_with_integer_counts(program):
    out, err = run("list_stats")
    stats = [json.loads(line) for line in out.splitlines()]
    assert stats == [
        {"sender_code": "+18885550100", "list": "Care", "subscribers": 1, "sendable": 1, "suspended": 0,
         "opted_out": 0},
        {"sender_code": "45678", "list": "News", "subscribers": 1, "sendable": 0, "suspended": 1, "opted_out": 1},
    ]  # fmt: skip
    assert err == ""


def test_export_sendable_leaves_out_suspended_and_opted_out_numbers(program):
    assert run("export_sendable", "--sender-code", "45678", "--list", "News")[0] == ""
    assert run("export_sendable", "--sender-code", "+18885550100", "--list", "Care")[0] == "+12025550145\n"
    with pytest.raises(CommandError, match="no list"):
        run("export_sendable", "--sender-code", "45678", "--list", "Nope")


def test_expire_suspensions_command_uses_the_given_clock(program):
    assert "suspensions_expired=0" in run("expire_suspensions", "--now", "2026-12-20")[0]
    assert "suspensions_expired=1" in run("expire_suspensions", "--now", "2026-12-21")[0]
    with pytest.raises(CommandError, match="--now"):
        run("expire_suspensions", "--now", "tomorrow")
