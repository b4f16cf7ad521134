"""Audience filters: live count and export of sendable numbers only; suspended and opted-out never count (R5)."""

import csv
import io
from datetime import date

import pytest

from django.urls import reverse

from contacts.models import Carrier, Contact, HasEmail, SavedFilter, Source, Subscription
from tests.screens.conftest import days_ago


def audience(*lists, **criteria) -> SavedFilter:
    saved = SavedFilter.objects.create(name=f"f{SavedFilter.objects.count()}", **criteria)
    saved.lists.set(lists)
    return saved


def test_suspended_and_opted_out_numbers_are_never_counted(program):
    # Flash Sales has one sendable, one suspended and two opted-out numbers.
    assert audience(program.flash).count() == 1
    assert list(audience(program.flash).numbers()) == [program.sendable.phone]


def test_the_list_dashboard_still_counts_the_suspended_as_subscribers(program, operator_client):
    counts = operator_client.get(reverse("admin:contacts_listhealth_list", args=[program.flash.pk])).context["counts"]
    assert counts.subscribers == 2 and counts.suspended == 1
    assert audience(program.flash).count() == counts.sendable


def test_a_number_on_several_lists_counts_once(program):
    assert audience(program.flash, program.digest).count() == 1


def test_no_lists_means_every_list(program):
    assert audience().count() == 1


def test_opted_in_before_and_after_use_the_latest_opt_in(program):
    recent = program.now.date()
    Subscription.objects.filter(contact=program.sendable, list=program.digest).update(opted_in_at=program.now)
    assert audience(program.digest, opted_in_after=recent).count() == 1
    assert audience(program.flash, opted_in_after=recent).count() == 0
    assert audience(program.flash, opted_in_before=recent).count() == 1
    assert audience(program.flash, opted_in_after=date(2000, 1, 1), opted_in_before=date(2000, 1, 2)).count() == 0


def test_carrier_email_and_source_criteria(program):
    t_mobile = Carrier.objects.get(name="T-Mobile")
    assert audience(carrier=t_mobile).count() == 1
    assert audience(carrier=Carrier.objects.get(name="AT&T")).count() == 0
    assert audience(has_email=HasEmail.YES).count() == 1
    assert audience(has_email=HasEmail.NO).count() == 0
    assert audience(last_opt_in_source=Source.IMPORT).count() == 1
    assert audience(last_opt_in_source=Source.OPERATOR).count() == 0


def test_the_change_page_shows_the_live_count(program, operator_client):
    saved = audience(program.flash)
    response = operator_client.get(reverse("admin:contacts_savedfilter_change", args=[saved.pk]))
    assert b'id="audience-count"' in response.content
    assert b">1</strong>" in response.content
    assert b"Export numbers (CSV)" in response.content
    assert b"js/audience_count.js" in response.content


def test_count_endpoint_counts_a_filter_being_edited(program, operator_client):
    url = reverse("admin:contacts_savedfilter_count")
    assert operator_client.get(url, {"lists": [program.flash.pk, program.digest.pk]}).json() == {"count": 1}
    assert operator_client.get(url, {"lists": program.billing.pk}).json() == {"count": 0}
    assert operator_client.get(url, {"has_email": "no"}).json() == {"count": 0}
    assert operator_client.get(url, {"opted_in_after": "not a date"}).status_code == 400


def test_export_streams_the_sendable_numbers(program, operator_client):
    response = operator_client.get(reverse("admin:contacts_savedfilter_export", args=[audience(program.flash).pk]))
    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="audience-f0')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [["phone"], [program.sendable.phone]]


def test_export_queries_do_not_grow_with_rows(program, operator_client, django_assert_max_num_queries):
    people = Contact.objects.bulk_create(Contact(phone=f"+1303555{i:04d}") for i in range(250))
    Subscription.objects.bulk_create(
        Subscription(contact=person, list=program.flash, opted_in_at=days_ago(program.now, 5)) for person in people
    )
    saved = audience(program.flash)
    # The page's own (session, user, codes, lists), sizing the export (issue 20), then one COPY between setting
    # and resetting its session options on PostgreSQL: a constant, whatever the rows.
    with django_assert_max_num_queries(10):
        response = operator_client.get(reverse("admin:contacts_savedfilter_export", args=[saved.pk]))
        lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1 + 251


def test_saving_records_who_built_it(program, operator_client):
    response = operator_client.post(
        reverse("admin:contacts_savedfilter_add"),
        {"name": "Digest", "lists": [program.digest.pk], "has_email": "", "last_opt_in_source": ""},
    )
    assert response.status_code == 302
    saved = SavedFilter.objects.get(name="Digest")
    assert saved.created_by.username == "staff-operator"
    assert saved.count() == 1


@pytest.mark.parametrize(("after", "before"), [("2026-02-01", "2026-01-01"), ("2026-01-01", "2026-01-01")])
def test_an_empty_window_is_refused(program, operator_client, after, before):
    response = operator_client.post(
        reverse("admin:contacts_savedfilter_add"),
        {"name": "Bad", "opted_in_after": after, "opted_in_before": before},
    )
    assert response.status_code == 200
    assert "must be earlier" in response.content.decode()
