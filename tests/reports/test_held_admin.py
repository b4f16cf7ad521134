"""Held reports in the admin: first in the list with the lists they would hit, a banner, and the Admin's decision."""

import io

import pytest

from django.urls import reverse

from contacts.models import OptOutEvent, Subscription
from reports import services
from reports.models import DeactivationReport
from tests.reports.builders import DAY, numbers, report_csv, subscribe_many
from tests.support.roles import staff

pytestmark = pytest.mark.django_db
Status = DeactivationReport.Status
CHANGELIST = reverse("admin:reports_deactivationreport_changelist")


@pytest.fixture
def held() -> DeactivationReport:
    phones = list(numbers(300))
    subscribe_many(phones, lists=1)
    body = report_csv(*((phone, DAY) for phone in phones[:200]))
    report = services.ingest(services.report_for_upload(io.BytesIO(body), file_name="bad.csv", report_date=None)).report
    assert report.status == Status.HELD
    return report


def test_held_reports_come_first_with_the_lists_they_would_hit(admin_client, held):
    later = services.report_for_upload(io.BytesIO(report_csv()), file_name="later.csv", report_date=DAY)

    response = admin_client.get(CHANGELIST)

    assert [r.pk for r in response.context["cl"].result_list] == [held.pk, later.pk]
    hit = held.held_lists[0]
    assert f"{hit['sender_code']}/{hit['list']}: 200 of 300 (66.7%)" in response.content.decode()
    assert 'report-status--held">Held (R14)<' in response.content.decode()


def test_the_index_shows_a_banner_while_a_report_is_held(admin_client, held):
    content = admin_client.get(reverse("admin:index")).content.decode()
    assert "1 deactivation report held by the mass opt-out guard" in content

    held.status = Status.DISCARDED
    held.save()
    assert "held by the mass opt-out guard" not in admin_client.get(reverse("admin:index")).content.decode()


def test_an_admin_applies_a_held_report_after_a_confirmation_stating_the_numbers(client, held):
    staff(client, "Admin")
    page = reverse("admin:reports_deactivationreport_change", args=[held.pk])
    release = reverse("admin:reports_deactivationreport_release", args=[held.pk])
    assert release in client.get(page).content.decode()

    confirmation = client.get(release).content.decode()
    assert "would opt out\n    <strong>200</strong> subscriptions" in confirmation
    assert "<td>200</td>\n        <td>300</td><td>66.7%</td>" in confirmation
    assert Subscription.objects.opted_out().count() == 0  # asking applied nothing

    response = client.post(release)
    assert response.status_code == 302
    held.refresh_from_db()
    assert (held.status, held.opted_out, held.decided_by.username) == (Status.SUCCEEDED, 200, "admin")
    client.post(release)  # a second click: refused, nothing applied twice (R6)
    assert OptOutEvent.objects.count() == 200


def test_an_admin_discards_a_held_report(client, held):
    staff(client, "Admin")

    client.post(reverse("admin:reports_deactivationreport_discard", args=[held.pk]))

    held.refresh_from_db()
    assert held.status == Status.DISCARDED and Subscription.objects.opted_out().count() == 0


@pytest.mark.parametrize("group", ["Operator", "Viewer"])
def test_operators_and_viewers_see_a_held_report_but_cannot_decide(client, held, group):
    staff(client, group)
    page = client.get(reverse("admin:reports_deactivationreport_change", args=[held.pk])).content.decode()
    assert "Apply anyway" not in page
    for decision in ("release", "discard"):
        url = reverse(f"admin:reports_deactivationreport_{decision}", args=[held.pk])
        assert client.get(url).status_code == 403 and client.post(url).status_code == 403
    held.refresh_from_db()
    assert held.status == Status.HELD
