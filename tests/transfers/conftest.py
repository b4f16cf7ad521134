"""Staff of each group, the uploaded files' home, and a way to post a CSV through the admin's import form."""

import pytest

from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts.models import SenderCode, SubscriberList
from tests.factories import SenderCodeFactory, SubscriberListFactory
from transfers.models import ImportJob

SUBSCRIPTIONS_HEADER = "phone,sender_code,list,opted_in_at,email,carrier\n"


@pytest.fixture
def staff(db):
    def make(group: str) -> User:
        user = User.objects.create_user(group.lower(), password="x", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return user

    return make


@pytest.fixture
def operator_client(client, staff):
    client.force_login(staff("Operator"))
    return client


@pytest.fixture
def flash(db) -> SubscriberList:
    return SubscriberListFactory(sender_code=SenderCodeFactory(code="45678"), name="Flash")


def upload(client, kind: str, content: bytes, *, create_lists: bool = False, name: str = "file.csv"):
    """Post a file to the import form; returns the response and the job it made (None if none)."""
    before = set(ImportJob.objects.values_list("pk", flat=True))
    data = {"kind": kind, "file": SimpleUploadedFile(name, content, "text/csv")}
    if create_lists:
        data["create_lists"] = "on"
    response = client.post(reverse("admin:transfers_importjob_import"), data)
    job = ImportJob.objects.exclude(pk__in=before).first()
    return response, job


def codes() -> list[str]:
    return list(SenderCode.objects.order_by("code").values_list("code", flat=True))
