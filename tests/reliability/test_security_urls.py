"""R12: every URL, tried as anonymous, Viewer, Operator and Admin, answers as the committed matrix says.

A change to any answer, a new page or a page gone fails here, naming the URL and the role. When the change is
meant, measure again with `--write-url-matrix` and review the diff of url_matrix.json before committing it.
"""

from datetime import UTC, datetime

import pytest
from axes.models import AccessAttempt, AccessLog
from django_celery_beat.models import ClockedSchedule, IntervalSchedule, SolarSchedule

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from contacts.models import Carrier, SavedFilter, SenderCode
from reports.models import CarrierNotice, Channel, DeactivationReport, DeliveryReceipt, Effect
from tests.reliability import url_matrix
from tests.screens.conftest import staff_in

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.fixture
def world(program):
    """One object of each kind the pages show, so change, delete and history pages open a real one."""
    saved = SavedFilter.objects.create(name="Flash")
    saved.lists.set([program.flash])
    DeactivationReport.objects.create(origin=DeactivationReport.Origin.UPLOAD, fingerprint="f" * 64, file_name="r.csv")
    short = SenderCode.objects.get(code="45678")
    DeliveryReceipt.objects.create(phone=program.stopped.phone, sender_code=short, error_code=603, occurred_at=AT,
                                   source=Channel.API, received_at=AT, outcome=Effect.OPTED_OUT)  # fmt: skip
    verizon = Carrier.objects.get(name="Verizon")
    CarrierNotice.objects.create(phone=program.suspended.phone, carrier=verizon, event=CarrierNotice.Event.SUSPENDED,
                                 occurred_at=AT, source=Channel.CSV, received_at=AT,
                                 status=CarrierNotice.Status.APPLIED, outcome=Effect.SUSPENDED)  # fmt: skip
    IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    SolarSchedule.objects.create(event="sunrise", latitude=0, longitude=0)
    ClockedSchedule.objects.create(clocked_time=AT)
    users = {role: staff_in(role) for role in url_matrix.ROLES[1:]}
    # The login audit's records: a failure and a success.
    Client().post("/admin/login/", {"username": "nobody", "password": "guess"})
    Client().post("/admin/login/", {"username": users["Viewer"].username, "password": "a-long-password-1"})
    assert AccessAttempt.objects.exists() and AccessLog.objects.exists()
    return program, saved, users


def samples(program, saved, users) -> dict[str, list[str]]:
    """A value for each URL argument other than an admin object id; a list gives one row per value."""
    exports = []
    if any(model._meta.app_label == "transfers" for model in admin.site._registry):
        from transfers.resources import EXPORTS

        exports = sorted(EXPORTS)
    return {
        "app_label": sorted({model._meta.app_label for model in admin.site._registry}),
        "contact_id": [str(program.stopped.pk)],
        "list_id": [str(program.flash.pk)],
        "pk": [str(saved.pk)],
        "job_id": ["0"],  # no import job exists: the confirm page of a missing job
        "name": exports,
        "content_type_id": [str(ContentType.objects.get_for_model(program.stopped).pk)],
        "id": [str(users["Viewer"].pk)],  # a user's password page
    }


def object_ids(program) -> dict[str, str]:
    """Each admin's route prefix -> the pk of its first object (none: '0', a missing object's page)."""
    ids = {"admin/r/": str(program.stopped.pk)}
    for model in admin.site._registry:
        first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
        ids[f"admin/{model._meta.app_label}/{model._meta.model_name}/"] = "0" if first is None else str(first)
    return ids


def measure(pages: list[url_matrix.Page], users: dict) -> url_matrix.Matrix:
    """Every page as every role; a page that refuses GET with 405 is tried with a POST as well (an empty JSON
    body, so the API gets as far as its signature check)."""
    clients = {role: Client() for role in url_matrix.ROLES}
    for role, user in users.items():
        clients[role].force_login(user)

    def ask(role: str, method: str, path: str) -> str:
        client = clients[role]
        if method == "GET":
            return url_matrix.outcome(client.get(path))
        answer = url_matrix.outcome(client.post(path, b"{}", content_type="application/json"))
        if role in users and "_auth_user_id" not in client.session:  # that was the logout
            client.force_login(users[role])
        return answer

    matrix: url_matrix.Matrix = {}
    for page in pages:
        row = matrix[f"GET {page.key}"] = {role: ask(role, "GET", page.path) for role in url_matrix.ROLES}
        if "405" in row.values():
            matrix[f"POST {page.key}"] = {role: ask(role, "POST", page.path) for role in url_matrix.ROLES}
    return matrix


def test_every_url_answers_each_role_as_the_matrix_says(world, request, settings):
    settings.SIGNAL_API_SECRET = "a-secret-so-the-api-checks-signatures"
    program, saved, users = world
    found = measure(url_matrix.pages(samples(program, saved, users), object_ids(program)), users)
    if request.config.getoption("--write-url-matrix"):
        url_matrix.save(found)
        pytest.skip(f"wrote {len(found)} URLs to {url_matrix.MATRIX_FILE} and the table in {url_matrix.DOC_FILE}")
    changes = url_matrix.differences(url_matrix.load(), found)
    assert not changes, "the URL matrix changed (review, then --write-url-matrix):\n" + "\n".join(changes)


def test_the_documented_table_is_the_matrix():
    assert url_matrix.documented_table() == url_matrix.table(url_matrix.load())
