"""Fixtures shared by the reliability and security tests."""

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
from tests.screens.conftest import program, staff_in  # noqa: F401  (the small SMS program, reused as a fixture)


def pytest_addoption(parser):
    parser.addoption(
        "--write-url-matrix",
        action="store_true",
        help="measure who may open each URL again and write tests/reliability/url_matrix.json and its docs table",
    )


AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.fixture
def world(program):  # noqa: F811
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


def samples(sms, saved, users) -> dict[str, list[str]]:
    """A value for each URL argument other than an admin object id; a list gives one row per value."""
    exports = []
    if any(model._meta.app_label == "transfers" for model in admin.site._registry):
        from transfers.resources import EXPORTS

        exports = sorted(EXPORTS)
    return {
        "app_label": sorted({model._meta.app_label for model in admin.site._registry}),
        "contact_id": [str(sms.stopped.pk)],
        "list_id": [str(sms.flash.pk)],
        "pk": [str(saved.pk)],
        "job_id": ["0"],  # no import job exists: the confirm page of a missing job
        "report_id": [str(DeactivationReport.objects.order_by("pk").values_list("pk", flat=True).first())],
        "name": exports,
        "content_type_id": [str(ContentType.objects.get_for_model(sms.stopped).pk)],
        "id": [str(users["Viewer"].pk)],  # a user's password page
        "token": ["not-a-token"],  # a re-consent link that was not signed here
    }


def object_ids(sms) -> dict[str, str]:
    """Each admin's route prefix -> the pk of its first object (none: '0', a missing object's page)."""
    ids = {"admin/r/": str(sms.stopped.pk)}
    for model in admin.site._registry:
        first = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
        ids[f"admin/{model._meta.app_label}/{model._meta.model_name}/"] = "0" if first is None else str(first)
    return ids


def all_pages(world) -> list[url_matrix.Page]:
    sms, saved, users = world
    return url_matrix.pages(samples(sms, saved, users), object_ids(sms))
