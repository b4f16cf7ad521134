"""The shared shape of the CSV intake commands: one summary line, bad rows named, exit 0 when readable."""

import sys

from django.core.management.base import BaseCommand, CommandError

from contacts.csvio import BadFile
from reports.intake import IntakeResult, SignalIntake
from reports.models import Channel

SHOWN_ERRORS = 20


class IntakeCommand(BaseCommand):
    intake: type[SignalIntake]

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file to ingest")

    def handle(self, *args, file, **options):
        intake = self.intake(channel=Channel.CSV)
        progress = self.progress()
        try:
            result = self.ingest(intake, file, progress)
        except (OSError, BadFile) as exc:
            raise CommandError(str(exc)) from None
        finally:
            if progress:
                sys.stderr.write("\n")
        for sample in result.errors.samples[:SHOWN_ERRORS]:
            self.stderr.write(f"line {sample['line']}: {sample['reason']}")
        if result.errors.count > SHOWN_ERRORS:
            self.stderr.write(f"… and {result.errors.count - SHOWN_ERRORS} more invalid rows")
        self.stdout.write(result.summary(intake.effects, rejected=intake.can_reject))

    def ingest(self, intake: SignalIntake, file: str, progress) -> IntakeResult:
        """The file's result; the CSV app's subclass runs it as an import job (transfers.command_jobs)."""
        raise NotImplementedError

    def progress(self):
        """A running row count on a terminal; nothing in a log or a pipe."""
        if not sys.stderr.isatty():
            return None

        def show(rows: int) -> None:
            sys.stderr.write(f"\r{rows:,} rows read")
            sys.stderr.flush()

        return show
