from django.core.management.base import BaseCommand

from contacts.exports import write_out
from transfers.resources import EXPORTS


class Command(BaseCommand):
    help = "Write an export as CSV on stdout, formula-escaped (R12): " + ", ".join(EXPORTS)

    def add_arguments(self, parser):
        parser.add_argument("name", choices=list(EXPORTS))
        parser.add_argument("--sender-code", help="only this sender code's rows (not for deactivation_reports)")

    def handle(self, *args, name, sender_code, **options):
        resource = EXPORTS[name]()
        stream = resource.export(resource.queryset(sender_code)).stream()
        write_out(self.stdout, stream)
        self.stderr.write(f"exported={stream.rows}")
