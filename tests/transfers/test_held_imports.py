"""R14 for imports and notice files: run as import jobs, a held one waits for `release_report --import ID`."""

import pytest

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from contacts.models import OptOutEvent, Subscription
from tests.reports.builders import numbers, subscribe_many
from tests.support.commands import run
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
