"""The re-engagement queue screen and its CSV download (issue 19): who staff may ask, by email, whether a number is
still its owner's; the counts on it and on the list dashboard."""

import csv
import io

import pytest

from django.urls import reverse

from contacts import reengagement
from contacts.reengagement import Answer
from contacts.reengagement_models import Reengagement

QUEUE = reverse("admin:contacts_reengagementqueue_changelist")
EXPORT = reverse("admin:contacts_reengagementqueue_export")
BASE = "https://sms.example.com"


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.REENGAGE_BASE_URL = BASE


def rows_on(response) -> list[tuple[str, str, str]]:
    assert response.status_code == 200
    return sorted((sub.list.name, sub.opt_out_reason, sub.reengagement) for sub in response.context["cl"].result_list)


def downloaded(response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="reengagement-')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_queue_lists_deactivated_disconnected_and_porting_opt_outs_with_an_email(program, viewer_client):
    # `deactivated` has an email and left three lists; `stopped` (STOP) and `ported` (no email) are not asked.
    assert rows_on(viewer_client.get(QUEUE)) == [
        ("Billing", "deactivated", ""),
        ("Flash Sales", "deactivated", ""),
        ("Weekly Digest", "deactivated", ""),
    ]
    page = viewer_client.get(QUEUE).content.decode()
    assert "+1 (202) ***-0101" in page and "555-0101" not in page
    assert 'id="reengagement-counts"' in page
    assert 'id="reengagement-export"' not in page  # viewing only


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"list__sender_code__id__exact": "toll_free"}, ["Billing"]),
        ({"list__id__exact": "flash"}, ["Flash Sales"]),
        ({"reason": "porting"}, []),
        ({"reason": "deactivated"}, ["Billing", "Flash Sales", "Weekly Digest"]),
        ({"opted_out_at__gte": "2000-01-01 00:00:00+00:00"}, ["Billing", "Flash Sales", "Weekly Digest"]),
        ({"opted_out_at__lt": "2000-01-01 00:00:00+00:00"}, []),
    ],
)
def test_the_queue_filters_by_sender_code_list_reason_and_date(program, viewer_client, filters, expected):
    ids = {"toll_free": program.toll_free.pk, "flash": program.flash.pk}
    params = {key: str(ids.get(value, value)) for key, value in filters.items()}
    assert [name for name, _, _ in rows_on(viewer_client.get(QUEUE, params))] == expected


def test_an_operator_downloads_the_filtered_queue_and_marks_it_invited(program, operator_client):
    assert 'id="reengagement-export"' in operator_client.get(QUEUE).content.decode()
    rows = downloaded(operator_client.post(f"{EXPORT}?list__id__exact={program.flash.pk}"))
    assert [(r["list"], r["sender_code"], r["masked_phone"], r["email"]) for r in rows] == [
        ("Flash Sales", "45678", "+1 (202) ***-0101", "one@example.com")
    ]
    assert rows[0]["link"].startswith(f"{BASE}/reconsent/")
    assert list(Reengagement.objects.values_list("subscription__list__name", "status")) == [("Flash Sales", "invited")]
    assert rows_on(operator_client.get(QUEUE, {"state": "invited"})) == [("Flash Sales", "deactivated", "invited")]
    assert [name for name, _, _ in rows_on(operator_client.get(QUEUE, {"state": "not_asked"}))] == [
        "Billing",
        "Weekly Digest",
    ]
    assert downloaded(operator_client.post(f"{EXPORT}?list__id__exact={program.flash.pk}")) == []
    assert len(downloaded(operator_client.post(f"{EXPORT}?list__id__exact={program.flash.pk}", {"again": "1"}))) == 1


def test_viewers_cannot_download(program, viewer_client):
    assert viewer_client.post(EXPORT).status_code == 403
    assert not Reengagement.objects.exists()


def test_nobody_downloads_by_get(program, operator_client):
    assert operator_client.get(EXPORT).status_code == 405
    assert not Reengagement.objects.exists()


def test_without_a_base_url_the_download_says_so_and_marks_nobody(program, operator_client, settings):
    settings.REENGAGE_BASE_URL = ""
    response = operator_client.post(EXPORT, follow=True)
    assert "REENGAGE_BASE_URL" in response.content.decode()
    assert not Reengagement.objects.exists()


def test_counts_per_list_and_reason_on_the_queue_and_the_list_dashboard(program, operator_client):
    rows = downloaded(operator_client.post(EXPORT))
    flash = next(r for r in rows if r["list"] == "Flash Sales")
    reengagement.answer(flash["link"].removeprefix(f"{BASE}/reconsent/").removesuffix("/"), Answer.YES)
    dashboard = operator_client.get(reverse("admin:contacts_listhealth_list", args=[program.flash.pk]))
    page = dashboard.content.decode()
    assert "Re-engagement by email" in page
    assert 'data-count="reconsented">1<' in page and 'data-count="invited">0<' in page
    queue = operator_client.get(QUEUE).content.decode()
    assert queue.count('data-count="invited">1<') == 2  # Billing and Weekly Digest
    assert queue.count('data-count="reconsented">1<') == 1
