"""R14 for imports and notice files: run as import jobs, a held one waits for `release_report --import ID`."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts.models import OptOutEvent, Subscription
from tests.reports.builders import numbers, subscribe_many
from tests.support.commands import run
from tests.support.roles import staff
from transfers import services
from transfers.models import ImportJob, ImportKind

pytestmark = pytest.mark.django_db
Status = ImportJob.Status
WHEN = (timezone.now() - timezone.timedelta(days=1)).isoformat()


@pytest.fixture
def program():
    phones = list(numbers(300))
    [target] = subscribe_many(phones, lists=1)
    return phones, target


def opt_outs_file(tmp_path, phones, code) -> str:
    path = tmp_path / "opt-outs.csv"
    path.write_text("phone,sender_code,occurred_at\n" + "".join(f"{p},{code},{WHEN}\n" for p in phones))
    return str(path)


def notices_file(tmp_path, phones) -> str:
    path = tmp_path / "notices.csv"
    path.write_text("phone,carrier,event,occurred_at\n" + "".join(f"{p},Verizon,deactivated,{WHEN}\n" for p in phones))
    return str(path)


def test_r14_an_opt_out_import_that_would_empty_a_list_is_held_then_released_once(program, tmp_path):
    phones, target = program

    code, out, err = run("import_csv", "opt_outs", opt_outs_file(tmp_path, phones[:200], target.sender_code.code))

    job = ImportJob.objects.get()
    assert code == 3
    assert out.startswith(f"held: import={job.pk} kind=opt_outs lists=1 ")
    assert "would_opt_out=200 subscribers=300 percent=66.7" in out
    assert f"release_report --import {job.pk}" in err
    assert (job.status, Subscription.objects.opted_out().count()) == (Status.HELD, 0)

    code, out, _ = run("release_report", "--import", str(job.pk))
    assert code == 0 and out.startswith(f"applied: import={job.pk} kind=opt_outs rows=200 created=200 ")
    assert Subscription.objects.opted_out().count() == OptOutEvent.objects.count() == 200
    code, _, err = run("release_report", "--import", str(job.pk))
    assert code == 1 and "is applied, not held" in err
    assert OptOutEvent.objects.count() == 200


def test_r14_a_notice_file_runs_as_a_job_and_is_held_or_discarded(program, tmp_path):
    phones, _ = program

    code, out, _ = run("ingest_carrier_notices", notices_file(tmp_path, phones[:150]))

    job = ImportJob.objects.get()
    assert code == 3 and out.startswith(f"held: import={job.pk} kind=carrier_notices ")
    assert job.status == Status.HELD and job.kind == ImportKind.CARRIER_NOTICES
    code, out, _ = run("release_report", "--import", str(job.pk), "--discard")
    job.refresh_from_db()
    assert code == 0 and job.status == Status.DISCARDED
    assert Subscription.objects.opted_out().count() == 0


def test_a_small_notice_file_still_applies_with_its_summary_line(program, tmp_path):
    phones, _ = program

    code, out, _ = run("ingest_carrier_notices", notices_file(tmp_path, phones[:3]))

    assert code == 0 and out.startswith("rows=3 accepted=3 duplicates=0 invalid=0")
    job = ImportJob.objects.get()
    assert job.status == Status.APPLIED and job.result["rows"] == 3


def test_r14_an_uploaded_import_is_previewed_in_full_then_held_when_confirmed(program, admin_user):
    phones, target = program
    body = "phone,sender_code,occurred_at\n" + "".join(f"{p},{target.sender_code.code},{WHEN}\n" for p in phones)
    job = services.start_import(kind=ImportKind.OPT_OUTS, upload=SimpleUploadedFile("all.csv", body.encode()),
                                user=admin_user)  # fmt: skip
    assert job.status == Status.PREVIEWED and job.preview["created"] == 300  # the preview shows what it would do

    services.confirm(job)

    job.refresh_from_db()
    assert job.status == Status.HELD and job.held_lists[0]["would_opt_out"] == 300
    assert Subscription.objects.opted_out().count() == 0


# The Admin's decision on a held import's page (the report page's confirmation and permission)


@pytest.fixture
def held_notices(program, tmp_path) -> ImportJob:
    phones, _ = program
    code, _, _ = run("ingest_carrier_notices", notices_file(tmp_path, phones[:150]))
    job = ImportJob.objects.get()
    assert code == 3 and job.status == Status.HELD
    return job


def test_an_admin_applies_a_held_notice_file_from_its_page_after_a_confirmation_stating_the_numbers(
    client, program, held_notices
):
    _, target = program
    staff(client, "Admin")
    page = reverse("admin:transfers_importjob_change", args=[held_notices.pk])
    release = reverse("admin:transfers_importjob_release", args=[held_notices.pk])
    shown = client.get(page).content.decode()
    assert release in shown and "Apply anyway" in shown
    assert f"{target.sender_code.code}/{target.name}: 150 of 300 (50.0%)" in shown

    confirmation = client.get(release).content.decode()
    assert f"Import #{held_notices.pk} (Carrier notices, notices.csv) was held" in confirmation
    assert "would opt out\n    <strong>150</strong> subscriptions" in confirmation
    assert "<td>150</td>\n        <td>300</td><td>50.0%</td>" in confirmation
    assert Subscription.objects.opted_out().count() == 0  # asking applied nothing

    response = client.post(release, follow=True)
    held_notices.refresh_from_db()
    assert held_notices.status == Status.APPLIED and held_notices.result["created"] == 150
    assert f"Import #{held_notices.pk} applied: 150 created" in response.content.decode()
    assert Subscription.objects.opted_out().count() == OptOutEvent.objects.count() == 150
    response = client.post(release, follow=True)  # a second click: refused, nothing applied twice (R6)
    assert "is applied, not held" in response.content.decode()
    assert OptOutEvent.objects.count() == 150


def test_an_admin_discards_a_held_import_from_its_page(client, held_notices):
    staff(client, "Admin")
    discard = reverse("admin:transfers_importjob_discard", args=[held_notices.pk])
    assert "none of its\n    <strong>150</strong> opt-outs is ever applied" in client.get(discard).content.decode()

    client.post(discard)

    held_notices.refresh_from_db()
    assert held_notices.status == Status.DISCARDED and Subscription.objects.opted_out().count() == 0


@pytest.mark.parametrize("group", ["Operator", "Viewer"])
def test_operators_and_viewers_see_a_held_import_but_cannot_decide(client, held_notices, group):
    staff(client, group)
    page = client.get(reverse("admin:transfers_importjob_change", args=[held_notices.pk]))
    assert page.status_code == 200 and "Apply anyway" not in page.content.decode()
    for decision in ("release", "discard"):
        url = reverse(f"admin:transfers_importjob_{decision}", args=[held_notices.pk])
        assert client.get(url).status_code == 403 and client.post(url).status_code == 403
    held_notices.refresh_from_db()
    assert held_notices.status == Status.HELD and Subscription.objects.opted_out().count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_postgresql_two_admins_releasing_one_held_import_at_once_apply_it_once(postgres, program, tmp_path):
    """Two Admins click *Apply anyway* together: two requests on two connections; one applies, one is refused."""
    phones, _ = program
    run("ingest_carrier_notices", notices_file(tmp_path, phones[:150]))
    job = ImportJob.objects.get(status=Status.HELD)
    url = reverse("admin:transfers_importjob_release", args=[job.pk])
    admins = [User.objects.create_superuser(f"admin{n}", password="x") for n in range(2)]
    start = threading.Barrier(2)

    def click(user) -> str:
        client = Client()
        client.force_login(user)
        start.wait(timeout=30)
        try:
            return client.post(url, follow=True).content.decode()
        finally:
            connection.close()  # the thread's own connection

    with ThreadPoolExecutor(2) as pool:
        pages = list(pool.map(click, admins))

    assert sum(f"Import #{job.pk} applied: 150 created" in page for page in pages) == 1
    assert sum("not held" in page for page in pages) == 1
    job.refresh_from_db()
    assert job.status == Status.APPLIED
    assert OptOutEvent.objects.count() == Subscription.objects.opted_out().count() == 150


def test_the_index_shows_a_banner_while_an_import_is_held(client, held_notices):
    staff(client, "Viewer")
    index = client.get(reverse("admin:index")).content.decode()
    assert "1 import held by the mass opt-out guard" in index
    assert "?status__exact=held" in index
    services.discard_held(held_notices.pk, user=None)
    assert "import held by the mass opt-out guard" not in client.get(reverse("admin:index")).content.decode()
