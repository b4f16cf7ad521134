"""The screens without a browser: tabs, filters, keyset pages, exports, the chart's JSON, bounded queries."""

import csv
import io
from datetime import timedelta

import pytest

from django.urls import reverse

from contacts.models import Contact, OptOutEvent, Reason, Source, SubscriberList, Subscription
from contacts.screens import COUNT_CAP, PAGE_SIZE, REASON_COLORS, Period
from contacts.services import opt_out
from tests.screens.conftest import days_ago, opted_out_many

SCREEN = reverse("admin:contacts_smscontact_changelist")
EXPORT = reverse("admin:contacts_smscontact_export")
REASONS_JSON = reverse("admin:contacts_listhealth_reasons_json")


def numbers_on(response) -> list[str]:
    return [row.phone for row in response.context["page"].rows]


def tab(client, tab: str, code: str = "45678", **filters):
    response = client.get(SCREEN, {"sender_code": code, "tab": tab, **filters})
    assert response.status_code == 200
    return response


def exported(response) -> list[dict[str, str]]:
    assert response.streaming, "an export is streamed, never built in memory"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- SMS Contacts tabs ---


def test_each_tab_shows_its_numbers_for_one_sender_code(program, operator_client):
    assert numbers_on(tab(operator_client, "subscribed")) == [program.sendable.phone]
    assert numbers_on(tab(operator_client, "opted_out")) == [program.deactivated.phone, program.stopped.phone]
    assert numbers_on(tab(operator_client, "suspended")) == [program.suspended.phone]
    assert numbers_on(tab(operator_client, "opted_out", code="+18885550100")) == [
        program.deactivated.phone,
        program.ported.phone,
    ]


def test_a_number_that_left_several_lists_at_once_is_one_row_naming_them(program, operator_client):
    (row, _) = tab(operator_client, "opted_out").context["page"].rows
    assert row.phone == program.deactivated.phone
    assert row.lists == "Flash Sales, Weekly Digest"
    assert row.display == "(202) 555-0101"


def test_the_chosen_sender_code_and_tab_stay_in_every_link(program, operator_client):
    response = operator_client.get(SCREEN, {"tab": "opted_out"})
    first = response.context["code"]
    assert first.code == "+18885550100"  # no choice yet: the first code
    assert all("sender_code=%2B18885550100" in url for _, _, url in response.context["tabs"])
    body = response.content.decode()
    assert 'value="45678"' in body and "Sender code" in body


def test_an_unknown_sender_code_or_tab_falls_back_to_the_first(program, operator_client):
    response = operator_client.get(SCREEN, {"sender_code": "nope", "tab": "nope"})
    assert response.status_code == 200
    assert response.context["tab"] == "subscribed"


def search(client, tab: str, typed: str, code: str = "45678", **filters):
    """Post the number box as the page's form does, and follow where it leads."""
    response = client.post(SCREEN, {"sender_code": code, "tab": tab, "q": typed, **filters}, follow=True)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("typed", ["(202) 555-0102", "202-555-0102", "+1 202 555 0102", "2025550102"])
def test_a_number_is_found_in_any_common_format(program, operator_client, typed):
    assert numbers_on(search(operator_client, "opted_out", typed)) == [program.stopped.phone]


def test_a_search_that_is_not_a_number_says_so(program, operator_client):
    response = search(operator_client, "opted_out", "hello")
    assert numbers_on(response) == []
    assert "Not a phone number" in response.content.decode()


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"reason": "stop"}, ["+12025550102"]),
        ({"reason": "deactivated"}, ["+12025550101"]),
        ({"source": "delivery_receipt"}, ["+12025550102"]),
        ({"source": "carrier_notice"}, []),
        ("digest", ["+12025550101"]),
        ("last-5-days", ["+12025550101"]),
        ("before-5-days", ["+12025550102"]),
    ],
)
def test_opted_out_filters(program, operator_client, filters, expected):
    if filters == "digest":
        filters = {"list": program.digest.pk}
    elif filters == "last-5-days":
        filters = {"since": days_ago(program.now, 5).date().isoformat()}
    elif filters == "before-5-days":
        filters = {"until": days_ago(program.now, 5).date().isoformat()}
    assert numbers_on(tab(operator_client, "opted_out", **filters)) == expected


def test_a_list_of_another_sender_code_is_not_a_valid_filter(program, operator_client):
    response = tab(operator_client, "opted_out", list=program.billing.pk)
    assert numbers_on(response) == []
    assert response.context["form"].errors


def test_a_backwards_date_range_is_refused(program, operator_client):
    response = tab(operator_client, "opted_out", since="2026-05-01", until="2026-04-01")
    assert "The start date is after the end date." in response.content.decode()


def test_carrier_code_shows_with_its_description(program, operator_client):
    body = tab(operator_client, "opted_out", reason="stop").content.decode()
    assert "603" in body and "Content blocked by user opt-out" in body


def test_every_row_links_to_the_numbers_history(program, operator_client):
    response = tab(operator_client, "opted_out")
    row = response.context["page"].rows[1]
    history = operator_client.get(row.url)
    assert history.status_code == 200
    steps = [entry.step.label for entry in history.context["history"]]
    assert steps == ["Opted in", "Opt-out event", "Opted out"]
    assert history.context["back_url"].startswith(SCREEN)
    assert b"603" in history.content


def test_history_back_link_never_leaves_the_screen(program, operator_client):
    url = reverse("admin:contacts_smscontact_number", args=[program.stopped.pk])
    response = operator_client.get(url, {"back": "https://evil.example/"})
    assert response.context["back_url"] == ""


# --- keyset pages ---


def walk(client, **params) -> list[list[str]]:
    pages, cursor = [], {}
    while True:
        response = tab(client, "opted_out", **params, **cursor)
        pages.append(numbers_on(response))
        page = response.context["page"]
        if not page.older:
            return pages
        cursor = {"older": page.older}


def test_pages_follow_each_other_without_gaps_or_repeats(program, operator_client):
    opted_out_many(program.flash, 2 * PAGE_SIZE + 7, program.now)  # many share one opted_out_at: ties
    pages = walk(operator_client)
    seen = [number for page in pages for number in page]
    assert [len(page) for page in pages] == [PAGE_SIZE, PAGE_SIZE, 9]
    assert len(seen) == len(set(seen)) == 2 * PAGE_SIZE + 9


def test_newer_goes_back_to_the_same_page(program, operator_client):
    opted_out_many(program.flash, 2 * PAGE_SIZE + 7, program.now)
    first = tab(operator_client, "opted_out")
    second = tab(operator_client, "opted_out", older=first.context["page"].older)
    back = tab(operator_client, "opted_out", newer=second.context["page"].newer)
    assert numbers_on(back) == numbers_on(first)
    assert back.context["page"].newer == ""  # the first page has nothing newer


def test_a_mangled_cursor_shows_the_first_page(program, operator_client):
    assert numbers_on(tab(operator_client, "opted_out", older="x_y")) == numbers_on(tab(operator_client, "opted_out"))


@pytest.mark.parametrize(
    "filters",
    [{}, {"reason": "disconnected"}, {"since": "2020-01-01", "until": "2030-12-31"}],
    ids=["no filter", "reason", "dates"],
)
def test_filters_the_tallies_keep_are_counted_exactly(program, operator_client, monkeypatch, filters):
    monkeypatch.setattr("contacts.screens.COUNT_CAP", 5)
    opted_out_many(program.flash, 8, program.now)
    page = tab(operator_client, "opted_out", **filters).context["page"]
    expected = Subscription.objects.opted_out().filter(list__sender_code__code="45678")
    if "reason" in filters:
        expected = expected.filter(opt_out_reason=filters["reason"])
    assert (page.matches, page.capped) == (expected.count(), False)
    assert page.matches > 5


@pytest.mark.parametrize("name", ["subscribed", "suspended"])
def test_the_other_tabs_count_from_the_tallies(program, operator_client, name):
    page = tab(operator_client, name).context["page"]
    subs = Subscription.objects.filter(list__sender_code__code="45678")
    expected = subs.sendable() if name == "subscribed" else subs.suspended()
    assert (page.matches, page.capped) == (expected.count(), False)


def test_a_count_the_tallies_cannot_answer_is_capped(program, operator_client, monkeypatch):
    monkeypatch.setattr("contacts.screens.COUNT_CAP", 5)
    opted_out_many(program.flash, 8, program.now)
    source = Source.CARRIER_NOTICE
    OptOutEvent.objects.bulk_create(
        OptOutEvent(contact=sub.contact, sender_code=program.flash.sender_code, reason=sub.opt_out_reason,
                    source=source, occurred_at=sub.opted_out_at, recorded_at=sub.opted_out_at)
        for sub in Subscription.objects.filter(list=program.flash, opt_out_event=None).opted_out()
    )  # fmt: skip
    for event in OptOutEvent.objects.filter(source=source, sender_code=program.flash.sender_code):
        Subscription.objects.filter(contact=event.contact, list=program.flash).update(opt_out_event=event)
    response = tab(operator_client, "opted_out", source=source)
    assert response.context["page"].matches == 5 and response.context["page"].capped
    assert "5+" in response.content.decode()
    assert COUNT_CAP >= 10_000


@pytest.mark.parametrize("name", ["subscribed", "opted_out", "suspended"])
def test_queries_per_page_do_not_grow_with_rows(program, operator_client, django_assert_max_num_queries, name):
    opted_out_many(program.flash, 3 * PAGE_SIZE, program.now)
    with django_assert_max_num_queries(12):
        tab(operator_client, name)


def test_subscribed_pages_walk_every_sendable_number(program, operator_client):
    people = Contact.objects.bulk_create(Contact(phone=f"+1303555{i:04d}") for i in range(PAGE_SIZE + 3))
    Subscription.objects.bulk_create(
        Subscription(contact=person, list=program.digest, opted_in_at=program.now) for person in people
    )
    first = tab(operator_client, "subscribed")
    second = tab(operator_client, "subscribed", older=first.context["page"].older)
    seen = numbers_on(first) + numbers_on(second)
    assert len(seen) == len(set(seen)) == PAGE_SIZE + 4  # and the fixture's one sendable number
    assert second.context["page"].older == ""


# --- the Opted-Out export ---


def test_export_is_exactly_what_the_filters_show(program, operator_client):
    rows = exported(operator_client.get(EXPORT, {"sender_code": "45678", "tab": "opted_out", "reason": "stop"}))
    assert rows == [
        {
            "phone": "+12025550102",
            "sender_code": "45678",
            "list": "Flash Sales",
            "reason": "stop",
            "source": "delivery_receipt",
            "error_code": "603",
            "occurred_at": days_ago(program.now, 10).isoformat(),
        }
    ]


def test_export_has_one_line_per_opted_out_subscription(program, operator_client):
    rows = exported(operator_client.get(EXPORT, {"sender_code": "45678"}))
    assert sorted((r["phone"], r["list"]) for r in rows) == [
        ("+12025550101", "Flash Sales"),
        ("+12025550101", "Weekly Digest"),
        ("+12025550102", "Flash Sales"),
    ]


def test_export_escapes_formulas_but_not_numbers(program, operator_client):
    SubscriberList.objects.filter(pk=program.flash.pk).update(name='=HYPERLINK("http://evil.example","x")')
    rows = exported(operator_client.get(EXPORT, {"sender_code": "45678", "reason": "stop"}))
    assert rows[0]["list"].startswith("'=HYPERLINK")
    assert rows[0]["phone"] == "+12025550102"


def test_export_queries_do_not_grow_with_rows(program, operator_client, django_assert_max_num_queries):
    opted_out_many(program.flash, 300, program.now)
    # The page's own (session, user, codes, lists), sizing the export (issue 20), then one COPY between setting
    # and resetting its session options on PostgreSQL: a constant, whatever the rows.
    with django_assert_max_num_queries(10):
        rows = exported(operator_client.get(EXPORT, {"sender_code": "45678"}))
    assert len(rows) == 303


# --- List Health ---


def test_list_health_counts_suspended_as_subscribers_not_sendable(program, operator_client):
    response = operator_client.get(reverse("admin:contacts_listhealth_changelist"))
    flash = next(row for row in response.context["counts"] if row.list == "Flash Sales")
    assert (flash.subscribers, flash.sendable, flash.suspended, flash.opted_out) == (2, 1, 1, 2)


def test_opt_outs_in_the_period_follow_the_timeframe(program, operator_client):
    url = reverse("admin:contacts_listhealth_list", args=[program.billing.pk])
    assert operator_client.get(url, {"days": 7}).context["counts"].opted_out == 1
    assert operator_client.get(url, {"days": 90}).context["counts"].opted_out == 2


def test_the_trend_has_every_day_of_the_period(program, operator_client):
    url = reverse("admin:contacts_listhealth_list", args=[program.flash.pk])
    trend = operator_client.get(url, {"days": 30}).context["trend"]
    assert trend["unit"] == "day"
    assert len(trend["points"]) in (30, 31)
    assert sum(point["count"] for point in trend["points"]) == 2
    weekly = operator_client.get(url, {"days": 90}).context["trend"]
    assert weekly["unit"] == "week" and sum(point["count"] for point in weekly["points"]) == 2


def test_reasons_json_shape(program, operator_client):
    body = operator_client.get(REASONS_JSON, {"list": program.flash.pk, "days": 30}).json()
    assert body["scope"] == {"list": program.flash.pk, "sender_code": "45678", "label": "45678 / Flash Sales"}
    assert body["days"] == 30 and body["total"] == 2
    assert [r["reason"] for r in body["reasons"]] == [reason.value for reason in Reason]
    assert [r["color"] for r in body["reasons"]] == list(REASON_COLORS.values())
    by_reason = {r["reason"]: (r["count"], r["percent"]) for r in body["reasons"]}
    assert by_reason["deactivated"] == (1, 50.0) and by_reason["stop"] == (1, 50.0) and by_reason["porting"] == (0, 0)


def test_reasons_json_for_a_custom_range_includes_its_last_day(program, operator_client):
    day = days_ago(program.now, 45).date().isoformat()
    body = operator_client.get(REASONS_JSON, {"since": day, "until": day}).json()
    assert body["total"] == 1 and body["days"] is None
    assert next(r for r in body["reasons"] if r["reason"] == "porting")["percent"] == 100.0


def test_an_empty_period_says_so_instead_of_a_chart(program, operator_client):
    url = reverse("admin:contacts_listhealth_reasons")
    response = operator_client.get(url, {"since": "2020-01-01", "until": "2020-01-31"})
    body = response.content.decode()
    assert "No opt-outs in this period." in body
    assert 'id="opt-out-reasons-chart"' not in body
    assert response.context["data"]["total"] == 0
    assert all(r["count"] == 0 and r["percent"] == 0 for r in response.context["data"]["reasons"])


def test_the_page_embeds_the_same_data_as_the_endpoint(program, operator_client):
    page = operator_client.get(reverse("admin:contacts_listhealth_reasons"), {"days": 90})
    body = page.content.decode()
    assert '<script id="opt-out-reasons" type="application/json">' in body
    assert "js/opt_out_reasons.js" in body and "chartjs/chart.umd.js" in body
    assert "<script>" not in body.replace(' type="application/json">', "")  # no inline JS
    endpoint = operator_client.get(REASONS_JSON, {"days": 90}).json()
    embedded = page.context["data"]
    for moment in ("since", "until"):  # "now" moved on between the two requests
        embedded.pop(moment), endpoint.pop(moment)
    assert embedded == endpoint


@pytest.mark.parametrize("params", [{"days": "12"}, {"days": "x"}, {"since": "yesterday"}, {"until": "2026-01-01"},
                                    {"since": "2026-02-01", "until": "2026-01-01"}])  # fmt: skip
def test_reasons_json_refuses_a_period_it_cannot_read(program, operator_client, params):
    response = operator_client.get(REASONS_JSON, params)
    assert response.status_code == 400 and response.json()["error"]


def test_reasons_json_for_an_unknown_list_is_404(program, operator_client):
    assert operator_client.get(REASONS_JSON, {"list": 999999}).status_code == 404


def test_chart_queries_do_not_grow_with_rows(program, operator_client, django_assert_max_num_queries):
    opted_out_many(program.flash, 300, program.now)
    # Session, user, permissions (2), the list, and the counts: the whole days from the tallies, the
    # partial first and last days from the rows themselves.
    with django_assert_max_num_queries(8):
        operator_client.get(REASONS_JSON, {"list": program.flash.pk})
    # The list dashboard also counts its re-engagement by email (issue 19): two grouped queries more.
    with django_assert_max_num_queries(14):
        operator_client.get(reverse("admin:contacts_listhealth_list", args=[program.flash.pk]))
    with django_assert_max_num_queries(10):
        operator_client.get(reverse("admin:contacts_listhealth_changelist"))


def test_a_later_opt_out_moves_into_the_chart(program, operator_client):
    opt_out(number=program.sendable.phone, reason=Reason.OPERATOR, source=Source.OPERATOR,
            occurred_at=program.now - timedelta(hours=1), sender_code=program.short)  # fmt: skip
    body = operator_client.get(REASONS_JSON, {"list": program.digest.pk, "days": 7}).json()
    assert {r["reason"]: r["count"] for r in body["reasons"]}["operator"] == 1


def test_period_labels():
    period = Period.from_params({"since": "2026-03-01", "until": "2026-03-31"})
    assert period.label() == "2026-03-01 to 2026-03-31"
    assert period.params() == {"since": "2026-03-01", "until": "2026-03-31"}
    assert Period.from_params({"days": "7"}).label() == "last 7 days"
