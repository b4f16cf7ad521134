"""R12 least privilege: every screen and endpoint, tried as each group, as staff without a group and anonymously."""

import pytest

from django.contrib.auth.models import Group, User
from django.urls import reverse

from contacts.models import CarrierErrorCode, SavedFilter, Subscription
from tests.screens.conftest import ROLES, staff_in

OK, FORBIDDEN, LOGIN = 200, 403, 302
SEES = {"anonymous": LOGIN, "no group": FORBIDDEN, "Viewer": OK, "Operator": OK, "Admin": OK, "superuser": OK}
EXPORTS = {**SEES, "Viewer": FORBIDDEN}
EDITS = {**SEES, "Viewer": FORBIDDEN}


def urls(program, saved: SavedFilter) -> dict[str, tuple[str, dict]]:
    """Every screen and endpoint, with the parameters that make it show data."""
    return {
        "sms contacts": (reverse("admin:contacts_smscontact_changelist"), {"tab": "opted_out"}),
        "number history": (reverse("admin:contacts_smscontact_number", args=[program.stopped.pk]), {}),
        "opted-out export": (reverse("admin:contacts_smscontact_export"), {"sender_code": "45678"}),
        "list health": (reverse("admin:contacts_listhealth_changelist"), {}),
        "list dashboard": (reverse("admin:contacts_listhealth_list", args=[program.flash.pk]), {}),
        "opt-out reasons": (reverse("admin:contacts_listhealth_reasons"), {"days": 30}),
        "opt-out reasons json": (reverse("admin:contacts_listhealth_reasons_json"), {"list": program.flash.pk}),
        "audience filters": (reverse("admin:contacts_savedfilter_changelist"), {}),
        "audience filter": (reverse("admin:contacts_savedfilter_change", args=[saved.pk]), {}),
        "audience count": (reverse("admin:contacts_savedfilter_count"), {"lists": program.flash.pk}),
        "audience export": (reverse("admin:contacts_savedfilter_export", args=[saved.pk]), {}),
        "new audience filter": (reverse("admin:contacts_savedfilter_add"), {}),
    }


EXPECTED = {
    "sms contacts": SEES,
    "number history": SEES,
    "opted-out export": EXPORTS,
    "list health": SEES,
    "list dashboard": SEES,
    "opt-out reasons": SEES,
    "opt-out reasons json": SEES,
    "audience filters": SEES,
    "audience filter": SEES,
    "audience count": SEES,
    "audience export": EXPORTS,
    "new audience filter": EDITS,
}


@pytest.fixture
def saved(program) -> SavedFilter:
    saved = SavedFilter.objects.create(name="Flash")
    saved.lists.set([program.flash])
    return saved


def client_as(client, role: str):
    if role == "superuser":
        client.force_login(User.objects.create_superuser("root", password="a-long-password-1"))
    elif role == "no group":
        client.force_login(staff_in(None))
    elif role != "anonymous":
        client.force_login(staff_in(role))
    return client


@pytest.mark.parametrize("role", list(SEES))
@pytest.mark.parametrize("screen", list(EXPECTED))
def test_each_screen_as_each_role(program, saved, client, role, screen):
    url, params = urls(program, saved)[screen]
    response = client_as(client, role).get(url, params)
    assert response.status_code == EXPECTED[screen][role]
    if response.status_code == LOGIN:
        assert response.url.startswith(reverse("admin:login"))


def test_viewer_sees_no_export_button(program, client):
    body = client_as(client, "Viewer").get(reverse("admin:contacts_smscontact_changelist"), {"tab": "opted_out"})
    assert body.status_code == 200
    assert b"Export CSV" not in body.content


def test_operator_sees_the_export_button(program, client):
    body = client_as(client, "Operator").get(reverse("admin:contacts_smscontact_changelist"), {"tab": "opted_out"})
    assert b"Export CSV" in body.content


def test_viewer_cannot_opt_anyone_out(program, client):
    client_as(client, "Viewer")
    sub = Subscription.objects.get(contact=program.sendable, list=program.flash)
    response = client.post(
        reverse("admin:contacts_subscription_changelist"),
        {"action": "opt_out_selected", "_selected_action": [sub.pk]},
    )
    assert response.status_code in (200, 302, 403)  # the action is not offered to a viewer at all
    sub.refresh_from_db()
    assert sub.is_opted_in


def test_viewer_cannot_change_codes(program, client):
    code = CarrierErrorCode.objects.get(code=603)
    url = reverse("admin:contacts_carriererrorcode_change", args=[code.pk])
    response = client_as(client, "Viewer").post(
        url, {"code": 603, "description": "changed", "action": "ignore", "reason": ""}
    )
    assert response.status_code == 403
    code.refresh_from_db()
    assert code.description != "changed"


@pytest.mark.parametrize(
    ("permission", "roles"),
    [
        ("contacts.export_numbers", {"Operator", "Admin"}),
        ("contacts.add_subscription", {"Operator", "Admin"}),  # imports
        ("contacts.change_subscription", {"Operator", "Admin"}),  # manual opt-outs
        ("contacts.change_carriererrorcode", {"Admin"}),
        ("contacts.change_sendercode", {"Admin"}),
        ("reports.add_deactivationreport", {"Operator", "Admin"}),  # uploads, fetch-now
        ("contacts.view_smscontact", {"Viewer", "Operator", "Admin"}),
        ("contacts.view_listhealth", {"Viewer", "Operator", "Admin"}),
        ("reports.view_deactivationreport", {"Viewer", "Operator", "Admin"}),
    ],
)
def test_group_permissions(db, permission, roles):
    granted = {role for role in ROLES if staff_in(role, username=f"u-{role}").has_perm(permission)}
    assert granted == roles


def test_groups_are_created_by_migration(db):
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    viewer = Group.objects.get(name="Viewer")
    assert viewer.permissions.exists()
    assert not viewer.permissions.exclude(codename__startswith="view_").exists()
