from django.core.management.base import BaseCommand, CommandError

from contacts.csvio import parse_timestamp
from contacts.exports import OPTED_OUT_COLUMNS, OptedOutFilter, opted_out_export, write_out
from contacts.models import SenderCode

HEADER = [column.header for column in OPTED_OUT_COLUMNS]


class Command(BaseCommand):
    help = "Write opted-out subscriptions as CSV on stdout, oldest first: " + ",".join(HEADER)

    def add_arguments(self, parser):
        parser.add_argument("--sender-code")
        parser.add_argument("--since", help="ISO-8601 date or timestamp (inclusive)")
        parser.add_argument("--until", help="ISO-8601 date or timestamp (exclusive)")

    def handle(self, *args, sender_code, since, until, **options):
        try:
            since, until = (parse_timestamp(v) if v else None for v in (since, until))
        except ValueError as exc:
            raise CommandError(f"--since/--until: {exc}") from None
        code = None
        if sender_code:
            code = SenderCode.objects.filter(code=sender_code).first()
            if code is None:
                raise CommandError(f"no sender code {sender_code!r}")
        stream = opted_out_export(
            OptedOutFilter(sender_code=code, since=since, until=until, newest_first=False)
        ).stream()
        write_out(self.stdout, stream)
        self.stderr.write(f"exported={stream.rows}")
