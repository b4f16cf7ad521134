from django.core.management.base import BaseCommand

from transfers.resources import EXPORTS


class Command(BaseCommand):
    help = "Write an export as CSV on stdout, formula-escaped (R12): " + ", ".join(EXPORTS)

    def add_arguments(self, parser):
        parser.add_argument("name", choices=list(EXPORTS))
        parser.add_argument("--sender-code", help="only this sender code's rows (not for deactivation_reports)")

    def handle(self, *args, name, sender_code, **options):
        resource = EXPORTS[name]()
        count = -1  # the header is not a row
        for count, line in enumerate(resource.lines(resource.queryset(sender_code))):
            self.stdout.write(line, ending="")
        self.stderr.write(f"exported={count}")
