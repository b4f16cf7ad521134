from django.core.management.base import BaseCommand, CommandError

from reports import lifecycle
from reports.management.commands.ingest_deactivations import summary
from reports.models import DeactivationReport


class Command(BaseCommand):
    help = (
        "Apply a report (or, with --import, a notice file or import) held by the mass opt-out guard, exactly as "
        "it would have applied, once (R14, R6); or discard it with --discard. The Admin's decision."
    )

    def add_arguments(self, parser):
        parser.add_argument("id", type=int, help="the held report's id (or the import job's, with --import)")
        parser.add_argument("--import", dest="is_import", action="store_true", help="ID is an import job")
        parser.add_argument("--discard", action="store_true", help="never apply it; keep it on record as discarded")

    def handle(self, *args, id, is_import, discard, **options):
        if is_import:
            from transfers import services as transfers  # the CSV app sits above reports: reached only here

            try:
                job = transfers.discard_held(id) if discard else transfers.release_held(id)
            except lifecycle.NotHeld as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"{job.status}: import={job.pk} kind={job.kind} " + " ".join(
                f"{name}={value}" for name, value in job.result.items()))  # fmt: skip
            if job.status not in ("applied", "discarded"):
                raise CommandError(f"import {job.pk} is {job.status}: {job.error}")
            return
        try:
            report = lifecycle.discard(id) if discard else lifecycle.release(id)
        except lifecycle.NotHeld as exc:
            raise CommandError(str(exc)) from None
        if discard:
            self.stdout.write(summary(report, "discarded"))
            return
        self.stdout.write(summary(report, "applied" if report.status == DeactivationReport.Status.SUCCEEDED else
                                  report.status))  # fmt: skip
        if report.status != DeactivationReport.Status.SUCCEEDED:
            raise CommandError(f"report {report.pk} is {report.status}: {report.error}")
