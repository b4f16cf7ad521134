import sys

from django.core.management.base import BaseCommand, CommandError

from contacts.csvio import BadFile
from reports.management.intake_command import IntakeCommand
from transfers.resources import IMPORTS

SHOWN_ERRORS = 20


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
            with open(file, "rb") as stream:
                summary = resource.run(stream, dry_run=dry_run)
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
