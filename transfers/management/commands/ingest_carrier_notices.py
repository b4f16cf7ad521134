from pathlib import Path

from django.core.management.base import CommandError

from reports.management.intake_command import IntakeCommand
from reports.notices import NoticeIntake
from transfers.command_jobs import held_line, run_file_as_job
from transfers.models import ImportKind
from transfers.resources import NoticeImport


class Command(IntakeCommand):
    help = (
        "Record carrier notices from a CSV (phone,carrier,event,occurred_at; carrier by name or alias) and apply "
        "them; notices already recorded are skipped (R6). The file runs as an import job: one the mass opt-out "
        "guard holds (R14) exits 3 and waits for `release_report --import ID`."
    )
    intake = NoticeIntake

    def ingest(self, intake, file, progress):
        job, result = run_file_as_job(
            kind=ImportKind.CARRIER_NOTICES, path=Path(file),
            work=lambda stream: intake.ingest_file(stream, progress=progress),
            counts=lambda result: NoticeImport.summary_of(result).counts(),
        )  # fmt: skip
        if result is None:
            self.stdout.write(held_line(job))
            raise CommandError(f"held by the mass opt-out guard (R14); nothing applied. An Admin runs "
                               f"release_report --import {job.pk} [--discard]", returncode=3)  # fmt: skip
        return result
