import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from contacts.csvio import BadFile
from reports.management.intake_command import IntakeCommand
from transfers.command_jobs import held_exit, held_line, run_file_as_job
from transfers.models import ImportKind
from transfers.resources import IMPORTS

SHOWN_ERRORS = 20
# The kinds that can opt numbers out run as import jobs, so one the guard holds (R14) can be released later.
GUARDED = {ImportKind.OPT_OUTS, ImportKind.CARRIER_NOTICES, ImportKind.RECEIPTS}


class Command(BaseCommand):
    help = (
        "Import an operator CSV through the same resources as the admin, set-based and in one transaction: "
        + "; ".join(f"{kind}: {resource.header}" for kind, resource in IMPORTS.items())
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=list(IMPORTS))
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="count what would happen and write nothing")
        parser.add_argument("--create-lists", action="store_true", help="create unknown sender codes and lists")

    def handle(self, *args, kind, file, dry_run, create_lists, **options):
        resource = IMPORTS[kind](create_lists=create_lists, progress=self.progress())
        try:
            if dry_run or kind not in GUARDED:
                with open(file, "rb") as stream:
                    summary = resource.run(stream, dry_run=dry_run)
            else:
                job, summary = run_file_as_job(kind=kind, path=Path(file), create_lists=create_lists,
                                               work=lambda stream: resource.run(stream, dry_run=False),
                                               counts=lambda summary: summary.counts())  # fmt: skip
                if summary is None:
                    self.stdout.write(held_line(job))
                    raise held_exit(job)
        except (OSError, BadFile) as exc:
            raise CommandError(str(exc)) from None
        finally:
            if sys.stderr.isatty():
                sys.stderr.write("\n")
        for sample in summary.samples[:SHOWN_ERRORS]:
            self.stderr.write(f"line {sample['line']}: {sample['reason']}")
        if summary.invalid > SHOWN_ERRORS:
            self.stderr.write(f"… and {summary.invalid - SHOWN_ERRORS} more invalid rows")
        self.stdout.write(summary.line() + (" (dry run: nothing written)" if dry_run else ""))

    progress = IntakeCommand.progress  # the intake commands' running row count
