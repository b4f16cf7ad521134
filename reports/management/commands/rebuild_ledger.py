import sys

from django.core.management.base import BaseCommand

from reports.ledger_rebuild import rebuild


class Command(BaseCommand):
    help = (
        "Refill the reassigned-number ledger from every applied report still readable and every deactivated or "
        "disconnected carrier notice; safe to run again (R6)."
    )

    def handle(self, *args, **options):
        result = rebuild(progress=self.progress())
        for error in result.errors:
            self.stderr.write(error)
        self.stdout.write(self.style.SUCCESS(result.summary()))

    def progress(self):
        """A running count of reports on a terminal; nothing in a log or a pipe."""
        if not sys.stderr.isatty():
            return None

        def show(done: int, total: int) -> None:
            sys.stderr.write(f"\r{done:,}/{total:,} reports read" + ("\n" if done == total else ""))
            sys.stderr.flush()

        return show
