"""A file given to a command runs as an import job too (issue 16): it has a row, and a batch the mass
opt-out guard holds (R14) waits there, status *held*, for `release_report --import ID` — like an upload's.

One pass over the file (no preview: the command's operator already chose it), in one transaction (R9).
"""

import logging
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from django.core.files import File
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from contacts import guard
from contacts.csvio import BadFile
from contacts.guard import Held
from reports.intake import IntakeResult, SignalIntake
from reports.management.intake_command import IntakeCommand
from transfers import services
from transfers.models import ImportJob, ImportKind
from transfers.resources import IMPORTS

log = logging.getLogger(__name__)
T = TypeVar("T")
Status = ImportJob.Status
# What a command's job records as its result: the resource's counts, so a later release reads the same shape.
Counts = Callable[[T], dict]


def run_file_as_job(*, kind: ImportKind, path: Path, work: Callable[[BinaryIO], T], counts: Counts,
                    create_lists: bool = False) -> tuple[ImportJob, T | None]:  # fmt: skip
    """Store the file as a confirmed job and apply it with `work`; (job, what work returned), or (held job,
    None) when the guard held it. BadFile (nothing written) fails the job and is raised to the caller."""
    with path.open("rb") as stream:
        upload = File(stream, name=path.name)
        job = ImportJob(kind=kind, file_name=path.name[:255], size=upload.size or 0, create_lists=create_lists,
                        status=Status.CONFIRMED, confirmed_at=timezone.now())  # fmt: skip
        job.file.save(path.name, upload, save=False)
    job.save()
    try:
        with transaction.atomic(), job.file.open("rb") as stream:
            outcome = work(stream)
            ImportJob.objects.filter(pk=job.pk).update(status=Status.APPLIED, result=counts(outcome),
                                                       finished_at=timezone.now())  # fmt: skip
    except Held as exc:
        return services.hold(job, exc), None
    except BadFile as exc:
        services.fail(job, str(exc))
        raise
    except Exception as exc:
        services.fail(job, f"the import failed and changed nothing: {exc}")
        raise
    job.refresh_from_db()
    log.info("import applied job=%d kind=%s", job.pk, kind)
    return job, outcome


def held_line(job: ImportJob) -> str:
    """The command's line for a held job: which lists, how many (R14)."""
    return f"held: import={job.pk} kind={job.kind} {guard.held_fields(job.held_lists)}"


def held_exit(job: ImportJob) -> CommandError:
    """Exit status 3 for a held job, naming the command that decides it."""
    return CommandError(f"held by the mass opt-out guard (R14); nothing applied. An Admin runs "
                        f"release_report --import {job.pk} [--discard]", returncode=3)  # fmt: skip


class JobIntakeCommand(IntakeCommand):
    """An intake command (receipts, carrier notices) whose file runs as an import job of `job_kind`: the same
    summary line and exit codes, and a held file prints `held: import=ID …` and exits 3 until it is released."""

    job_kind: ImportKind

    def ingest(self, intake: SignalIntake, file: str, progress) -> IntakeResult:
        job, result = run_file_as_job(
            kind=self.job_kind, path=Path(file),
            work=lambda stream: intake.ingest_file(stream, progress=progress),
            counts=lambda result: IMPORTS[self.job_kind].summary_of(result).counts(),
        )  # fmt: skip
        if result is None:
            self.stdout.write(held_line(job))
            raise held_exit(job)
        return result
