"""Re-engagement by email (issue 19): the export command, the signed single-use links, the answer pages, and the
consent they record (R4, R13 as the opt-in service applies it)."""

import csv
import io
import logging
import threading
import uuid
from datetime import timedelta

import pytest

from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from contacts import reengagement
from contacts.models import OptOutEvent, Reason, Source, Subscription
from contacts.reengagement import Answer, LinkError, LinkProblem
from contacts.reengagement_models import Reengagement
from contacts.services import opt_out
from tests.conftest import require
from tests.factories import ContactFactory, SenderCodeFactory, SubscriberListFactory, SubscriptionFactory, at
from tests.support.ledger import apply_report

pytestmark = pytest.mark.django_db

BASE = "https://sms.example.com"
PHONE = "+12025550143"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.REENGAGE_BASE_URL = BASE
    settings.REENGAGE_MAX_AGE_DAYS = 30
    settings.REENGAGE_RATE_LIMIT = "1000/minute"


@pytest.fixture
def deactivated():
    """One number on two lists of a short code, deactivated a week ago; it has an email."""
    code = SenderCodeFactory(code="45678", name="Acme Alerts")
    person = ContactFactory(phone=PHONE, email="owner@example.com")
    subs = [SubscriptionFactory(contact=person, list=SubscriberListFactory(sender_code=code, name=name),
                                opted_in_at=at("2026-01-01")) for name in ("Flash Sales", "Digest")]  # fmt: skip
    opt_out(number=PHONE, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
            occurred_at=timezone.now() - timedelta(days=7))  # fmt: skip
    for sub in subs:
        sub.refresh_from_db()
    return subs


def owner(**kwargs) -> Client:
    """A browser at an address of its own: the rate limit's counts (in Redis with REDIS_URL) outlive a test, and
    other tests' requests from 127.0.0.1 must not pay for these."""
    return Client(REMOTE_ADDR=f"owner-{uuid.uuid4()}", **kwargs)


def export(*args) -> tuple[list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_reengagement", *args, stdout=out, stderr=err)
    return list(csv.DictReader(io.StringIO(out.getvalue()))), err.getvalue()


def token_of(row: dict) -> str:
    assert row["link"].startswith(f"{BASE}/reconsent/") and row["link"].endswith("/")
    return row["link"].removeprefix(f"{BASE}/reconsent/").removesuffix("/")


def path_of(row: dict) -> str:
    return row["link"].removeprefix(BASE)


def test_export_writes_one_row_per_subscription_and_marks_them_invited(deactivated):
    out = io.StringIO()
    call_command("export_reengagement", stdout=out, stderr=io.StringIO())
    assert out.getvalue().splitlines()[0] == "email,list,sender_code,reason,opted_out_at,masked_phone,link"
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert sorted(row["list"] for row in rows) == ["Digest", "Flash Sales"]
    for row in rows:
        assert row["email"] == "owner@example.com"
        assert row["sender_code"] == "45678"
        assert row["reason"] == "deactivated"
        assert row["masked_phone"] == "+1 (202) ***-0143"
        assert "5550143" not in row["link"]
        token_of(row)
    opted_out_at = {row["opted_out_at"] for row in rows}
    assert opted_out_at == {deactivated[0].opted_out_at.isoformat()}
    questions = Reengagement.objects.all()
    assert {(q.subscription_id, q.status) for q in questions} == {(s.pk, "invited") for s in deactivated}
    assert all(q.invited_at is not None and q.answered_at is None for q in questions)


def test_summary_goes_to_stderr_and_only_data_to_stdout(deactivated):
    rows, err = export()
    assert len(rows) == 2
    assert err.strip() == "exported=2"


def test_second_export_leaves_invited_out_unless_again_and_old_links_keep_working(deactivated):
    first, _ = export()
    second, err = export()
    assert second == [] and err.strip() == "exported=0"
    again, _ = export("--again")
    assert len(again) == 2
    assert {token_of(r) for r in again}.isdisjoint({token_of(r) for r in first})
    for row in first + again:
        reengagement.question_for(token_of(row))  # both generations are open until answered or expired
    assert Reengagement.objects.count() == 2


def test_filters_by_sender_code_list_and_opt_out_date(deactivated):
    other = SubscriptionFactory(
        contact=ContactFactory(phone="+12025550150", email="b@example.com"),
        list=SubscriberListFactory(sender_code=SenderCodeFactory(code="99999"), name="Flash Sales"),
    )
    opt_out(number=other.contact.phone, reason=Reason.PORTING, source=Source.CARRIER_NOTICE,
            occurred_at=timezone.now() - timedelta(days=40))  # fmt: skip
    assert [r["sender_code"] for r in export("--sender-code", "99999")[0]] == ["99999"]
    assert [(r["list"], r["sender_code"]) for r in export("--list", "Flash Sales", "--again")[0]] == [
        ("Flash Sales", "45678"),
        ("Flash Sales", "99999"),
    ]
    since = (timezone.now() - timedelta(days=10)).date().isoformat()
    assert {r["sender_code"] for r in export("--since", since, "--again")[0]} == {"45678"}


def test_only_deactivated_disconnected_or_porting_with_an_email_are_asked():
    code = SenderCodeFactory(code="45678")
    listed = SubscriberListFactory(sender_code=code)
    cases = {
        "+12025550160": (Reason.STOP, "stop@example.com"),
        "+12025550161": (Reason.PERMANENT_FAILURE, "pf@example.com"),
        "+12025550162": (Reason.DEACTIVATED, ""),
        "+12025550163": (Reason.DISCONNECTED, "cut@example.com"),
        "+12025550164": (Reason.PORTING, "moved@example.com"),
    }
    for phone, (reason, email) in cases.items():
        SubscriptionFactory(contact=ContactFactory(phone=phone, email=email), list=listed)
        opt_out(number=phone, reason=reason, source=Source.OPERATOR, occurred_at=timezone.now())
    SubscriptionFactory(contact=ContactFactory(phone="+12025550165", email="in@example.com"), list=listed)
    rows, _ = export()
    assert sorted(r["email"] for r in rows) == ["cut@example.com", "moved@example.com"]


def test_bad_options_exit_non_zero_and_mark_nobody(deactivated, settings):
    with pytest.raises(CommandError, match="no sender code"):
        export("--sender-code", "11111")
    with pytest.raises(CommandError, match="no list"):
        export("--list", "Nope")
    with pytest.raises(CommandError, match="--since"):
        export("--since", "last tuesday")
    settings.REENGAGE_BASE_URL = ""
    with pytest.raises(CommandError, match="REENGAGE_BASE_URL"):
        export()
    assert not Reengagement.objects.exists()


def test_export_cells_are_formula_escaped_but_the_masked_number_stays_readable():
    hostile = SubscriberListFactory(sender_code=SenderCodeFactory(code="45678"), name='=HYPERLINK("http://x")')
    SubscriptionFactory(contact=ContactFactory(phone=PHONE, email="@SUM(1)@example.com"), list=hostile)
    opt_out(number=PHONE, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT, occurred_at=timezone.now())
    out = io.StringIO()
    call_command("export_reengagement", stdout=out, stderr=io.StringIO())
    (row,) = csv.reader(io.StringIO(out.getvalue().splitlines()[1]))
    assert row[0] == "'@SUM(1)@example.com"
    assert row[1] == '\'=HYPERLINK("http://x")'
    assert row[5] == "+1 (202) ***-0143"


# --- The page ---


def invited_token(subscription: Subscription) -> str:
    (row,) = [r for r in export("--again")[0] if r["list"] == subscription.list.name]
    return token_of(row)


def test_the_page_shows_the_program_and_the_masked_number_without_login(deactivated):
    sub = deactivated[0]
    response = owner().get(f"/reconsent/{invited_token(sub)}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Acme Alerts" in page and "45678" in page and "Flash Sales" in page
    assert "+1 (202) ***-0143" in page
    assert "555-0143" not in page and "5550143" not in page
    assert "Yes, this is still my number, text me again" in page and ">No<" in page
    assert response["Cache-Control"].startswith("max-age=0")


def test_yes_opts_in_again_only_the_named_subscription_with_source_reengagement(deactivated):
    sub, other = deactivated
    token = invited_token(sub)
    before = timezone.now()
    response = owner().post(f"/reconsent/{token}/", {"answer": "yes"})
    assert response.status_code == 200 and 'data-answer="yes"' in response.content.decode()
    sub.refresh_from_db()
    other.refresh_from_db()
    assert sub.is_opted_in and sub.opt_in_source == Source.REENGAGEMENT and sub.opted_in_at >= before
    assert sub.opted_out_at is None
    assert not other.is_opted_in  # the token names one subscription
    question = Reengagement.objects.get(subscription=sub)
    assert question.status == "reconsented" and question.answered_at == sub.opted_in_at
    assert OptOutEvent.objects.filter(contact=sub.contact).count() == 1  # the opt-out stays on record (R7)


def test_no_records_declined_and_leaves_it_opted_out(deactivated):
    sub = deactivated[0]
    response = owner().post(f"/reconsent/{invited_token(sub)}/", {"answer": "no"})
    assert response.status_code == 200 and 'data-answer="no"' in response.content.decode()
    sub.refresh_from_db()
    assert not sub.is_opted_in and sub.opt_out_reason == Reason.DEACTIVATED
    assert Reengagement.objects.get(subscription=sub).status == "declined"


@pytest.mark.parametrize("first", ["yes", "no"])
def test_a_link_works_once(deactivated, first):
    sub = deactivated[0]
    path = f"/reconsent/{invited_token(sub)}/"
    client = owner()
    assert client.post(path, {"answer": first}).status_code == 200
    state = Subscription.objects.filter(pk=sub.pk).values().get()
    for method, data in [("get", {}), ("post", {"answer": "yes"}), ("post", {"answer": "no"})]:
        response = getattr(client, method)(path, data)
        assert response.status_code == 410
        assert 'data-problem="used"' in response.content.decode()
    assert Subscription.objects.filter(pk=sub.pk).values().get() == state
    assert Reengagement.objects.get(subscription=sub).status == ("reconsented" if first == "yes" else "declined")


def test_an_earlier_link_is_used_up_by_an_answer_through_a_later_one(deactivated):
    sub = deactivated[0]
    old = invited_token(sub)
    new = invited_token(sub)
    assert owner().post(f"/reconsent/{new}/", {"answer": "no"}).status_code == 200
    assert owner().post(f"/reconsent/{old}/", {"answer": "yes"}).status_code == 410
    sub.refresh_from_db()
    assert not sub.is_opted_in


def test_an_expired_link_answers_410_and_changes_nothing(deactivated, settings):
    sub = deactivated[0]
    token = invited_token(sub)
    with pytest.raises(LinkError) as caught:
        reengagement.answer(token, Answer.YES, now=timezone.now() + timedelta(days=30, minutes=1))
    assert caught.value.problem == LinkProblem.EXPIRED
    reengagement.question_for(token, now=timezone.now() + timedelta(days=29, hours=23))  # still open just before
    settings.REENGAGE_MAX_AGE_DAYS = -1  # every link already past its age, for the page
    response = owner().post(f"/reconsent/{token}/", {"answer": "yes"})
    assert response.status_code == 410 and 'data-problem="expired"' in response.content.decode()
    sub.refresh_from_db()
    assert not sub.is_opted_in and Reengagement.objects.get(subscription=sub).status == "invited"


@pytest.mark.parametrize("tamper", ["flip", "other_subscription", "garbage"])
def test_a_tampered_link_answers_400_and_changes_nothing(deactivated, tamper):
    sub, other = deactivated
    token = invited_token(sub)
    other_question = Reengagement.objects.get(subscription=other).pk
    forged = {
        "flip": token[:-1] + ("A" if token[-1] != "A" else "B"),
        # A payload naming another subscription under the first one's signature.
        "other_subscription": reengagement.token_for(other_question, other.pk, timezone.now()).split(":", 1)[0]
        + ":"
        + token.split(":", 1)[1],
        "garbage": "not-a-token",
    }[tamper]
    for method in ("get", "post"):
        response = getattr(owner(), method)(f"/reconsent/{forged}/", {"answer": "yes"} if method == "post" else {})
        assert response.status_code == 400
        assert 'data-problem="tampered"' in response.content.decode()
    assert not Subscription.objects.filter(pk__in=[sub.pk, other.pk], status="opted_in").exists()
    assert not Reengagement.objects.exclude(status="invited").exists()


def test_r4_nothing_re_subscribes_without_the_post(deactivated):
    sub = deactivated[0]
    token = invited_token(sub)
    client = owner()
    assert client.get(f"/reconsent/{token}/").status_code == 200
    assert client.post(f"/reconsent/{token}/", {}).status_code == 400  # no answer chosen
    assert client.post(f"/reconsent/{token}/", {"answer": "maybe"}).status_code == 400
    assert not Subscription.objects.filter(status="opted_in").exists()
    assert Reengagement.objects.get(subscription=sub).status == "invited"


def test_r13_a_yes_dated_on_or_before_the_deactivation_is_refused_and_changes_nothing(deactivated):
    sub = deactivated[0]
    token = invited_token(sub)
    with pytest.raises(LinkError) as caught:
        reengagement.answer(token, Answer.YES, now=sub.opted_out_at)  # consent not after the deactivation
    assert caught.value.problem == LinkProblem.REFUSED
    sub.refresh_from_db()
    assert not sub.is_opted_in
    question = Reengagement.objects.get(subscription=sub)
    assert question.status == "invited" and question.answered_at is None  # the link still works
    assert reengagement.answer(token, Answer.YES).status == "reconsented"  # now, after it: a new consent


def test_r13_a_yes_is_refused_while_the_ledger_knows_a_deactivation_on_or_after_its_day(deactivated):
    # The ledger, not the subscription, knows this one: a later report names the number again today.
    sub = deactivated[0]
    token = invited_token(sub)
    today = timezone.now().date()
    assert apply_report((PHONE, today)).status == "succeeded"
    with pytest.raises(LinkError) as caught:
        reengagement.answer(token, Answer.YES)  # dated now: on the day of a known deactivation
    assert caught.value.problem == LinkProblem.REFUSED
    sub.refresh_from_db()
    assert not sub.is_opted_in
    tomorrow = timezone.now() + timedelta(days=1)
    assert reengagement.answer(token, Answer.YES, now=tomorrow).status == "reconsented"  # after it: a new consent


def test_the_page_answers_409_when_the_consent_is_refused(deactivated):
    sub = deactivated[0]
    token = invited_token(sub)
    # The carrier reports a deactivation dated after the link went out and after the yes (clock skew, a
    # back-dated report): the consent is older than the opt-out, so it is refused.
    later = timezone.now() + timedelta(days=1)
    Subscription.objects.filter(pk=sub.pk).update(opted_out_at=later)
    Reengagement.objects.filter(subscription=sub).update(opted_out_at=later)
    response = owner().post(f"/reconsent/{token}/", {"answer": "yes"})
    assert response.status_code == 409 and 'data-problem="refused"' in response.content.decode()
    assert not Subscription.objects.get(pk=sub.pk).is_opted_in


def test_a_number_opted_out_again_after_reconsent_behaves_like_any_other(deactivated):
    sub = deactivated[0]
    token = invited_token(sub)
    reengagement.answer(token, Answer.YES)
    opt_out(number=PHONE, reason=Reason.DEACTIVATED, source=Source.DEACTIVATION_REPORT,
            occurred_at=timezone.now() + timedelta(seconds=1))  # fmt: skip
    sub.refresh_from_db()
    assert not sub.is_opted_in and OptOutEvent.objects.filter(contact=sub.contact).count() == 2
    with pytest.raises(LinkError):
        reengagement.question_for(token)  # a link about the old opt-out stays used
    rows, _ = export()  # a new opt-out is a new question: no --again needed
    assert [r["list"] for r in rows] == [sub.list.name]
    assert Reengagement.objects.filter(subscription=sub).count() == 2
    assert reengagement.answer(token_of(rows[0]), Answer.NO).status == "declined"


def test_export_csv_subscriptions_has_the_reengagement_column(deactivated):
    sub, other = deactivated
    reengagement.answer(invited_token(sub), Answer.YES)
    SubscriptionFactory(contact=ContactFactory(phone="+12025550170"), list=sub.list)
    out = io.StringIO()
    call_command("export_csv", "subscriptions", stdout=out, stderr=io.StringIO())
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    states = {(r["phone"], r["list"]): r["reengagement"] for r in rows}
    assert states == {
        (PHONE, sub.list.name): "reconsented",
        (PHONE, other.list.name): "invited",
        ("+12025550170", sub.list.name): "",
    }
    reengagement.answer(invited_token(other), Answer.NO)
    out = io.StringIO()
    call_command("export_csv", "subscriptions", stdout=out, stderr=io.StringIO())
    assert {
        r["list"]: r["reengagement"] for r in csv.DictReader(io.StringIO(out.getvalue())) if r["phone"] == PHONE
    } == {
        sub.list.name: "reconsented",
        other.list.name: "declined",
    }


def test_the_answer_is_csrf_protected(deactivated):
    sub = deactivated[0]
    path = f"/reconsent/{invited_token(sub)}/"
    client = owner(enforce_csrf_checks=True)
    assert client.post(path, {"answer": "yes"}).status_code == 403
    page = client.get(path)
    token = page.context["csrf_token"]
    assert client.post(path, {"answer": "yes", "csrfmiddlewaretoken": str(token)}).status_code == 200
    assert Subscription.objects.get(pk=sub.pk).is_opted_in


def test_requests_are_rate_limited_per_client_address(deactivated, settings):
    settings.REENGAGE_RATE_LIMIT = "3/hour"
    path = f"/reconsent/{invited_token(deactivated[0])}/"
    # Addresses of this run alone: with REDIS_URL the counts outlive the test (no flush of a shared Redis).
    one, two = Client(REMOTE_ADDR=f"one-{uuid.uuid4()}"), Client(REMOTE_ADDR=f"two-{uuid.uuid4()}")
    assert [one.get(path).status_code for _ in range(3)] == [200, 200, 200]
    assert one.get(path).status_code == 429
    assert one.post(path, {"answer": "yes"}).status_code == 429
    assert two.get(path).status_code == 200  # another address has its own count
    assert not Subscription.objects.filter(status="opted_in").exists()


def test_a_cache_outage_leaves_the_pages_answering(deactivated, settings, caplog):
    settings.REENGAGE_RATE_LIMIT = "1/hour"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    path = f"/reconsent/{invited_token(deactivated[0])}/"
    client = owner()
    assert [client.get(path).status_code for _ in range(2)] == [200, 200]  # over the limit, but nothing counts
    assert "reconsent rate limit unavailable" in caplog.text


def test_no_phone_number_in_any_log_line(deactivated, caplog):
    caplog.set_level(logging.DEBUG)
    client = owner()
    for sub, reply in zip(deactivated, ["yes", "no"], strict=True):
        path = f"/reconsent/{invited_token(sub)}/"
        client.get(path)
        client.post(path, {"answer": reply})
        client.post(path, {"answer": reply})  # used: logged as such
    client.get("/reconsent/not-a-token/")
    assert caplog.records
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "reconsent answered" in logged and "problem=used" in logged
    for shape in ("5550143", "555-0143", "202555"):
        assert shape not in logged


def test_counts_per_list_and_reason(deactivated):
    sub, other = deactivated
    assert {(r["list"], r["reason"], r["waiting"], r["invited"]) for r in reengagement.counts()} == {
        ("Flash Sales", "deactivated", 1, 0),
        ("Digest", "deactivated", 1, 0),
    }
    reengagement.answer(invited_token(sub), Answer.YES)
    invited_token(other)
    counts = {r["list"]: (r["waiting"], r["invited"], r["reconsented"], r["declined"]) for r in reengagement.counts()}
    assert counts == {"Flash Sales": (0, 0, 1, 0), "Digest": (0, 1, 0, 0)}
    assert [r["list"] for r in reengagement.counts([other.list_id])] == ["Digest"]


# Serialized like every transactional test here: a plain flush would recreate the staff groups under the next
# test that restores the database from its serialized copy.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_answers_at_once_only_one_counts(deactivated):
    require(connection.vendor == "postgresql", "needs PostgreSQL: concurrent writers (set DATABASE_URL=postgres://…)")
    sub = deactivated[0]
    token = invited_token(sub)
    start = threading.Barrier(2)
    results: dict[Answer, str] = {}

    def reply(given: Answer) -> None:
        start.wait()
        try:
            results[given] = reengagement.answer(token, given).status
        except LinkError as exc:
            results[given] = exc.problem
        finally:
            connection.close()

    threads = [threading.Thread(target=reply, args=(given,)) for given in (Answer.YES, Answer.NO)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(results.values()).count(LinkProblem.USED) == 1
    (winner,) = [status for status in results.values() if status != LinkProblem.USED]
    assert Reengagement.objects.get(subscription=sub).status == winner
    sub.refresh_from_db()
    assert sub.is_opted_in == (winner == "reconsented")
