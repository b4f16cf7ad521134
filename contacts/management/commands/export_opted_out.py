from django.core.management.base import BaseCommand, CommandError

from contacts.csvio import parse_timestamp, write_csv
from contacts.models import SenderCode, Subscription

HEADER = ["phone", "sender_code", "list", "reason", "source", "error_code", "occurred_at"]


class Command(BaseCommand):
    help = "Write opted-out subscriptions as CSV on stdout: " + ",".join(HEADER)

    def add_arguments(self, parser):
        parser.add_argument("--sender-code")
        parser.add_argument("--since", help="ISO-8601 date or timestamp (inclusive)")
        parser.add_argument("--until", help="ISO-8601 date or timestamp (exclusive)")

    def handle(self, *args, sender_code, since, until, **options):
        try:
            since, until = (parse_timestamp(v) if v else None for v in (since, until))
        except ValueError as exc:
            raise CommandError(f"--since/--until: {exc}") from None
        subscriptions = Subscription.objects.opted_out_between(since, until)
        if sender_code:
            if not SenderCode.objects.filter(code=sender_code).exists():
                raise CommandError(f"no sender code {sender_code!r}")
            subscriptions = subscriptions.filter(list__sender_code__code=sender_code)
        rows = (
            (phone, code, name, reason, source or "", error_code or "", at.isoformat())
            for phone, code, name, reason, source, error_code, at in subscriptions.order_by("opted_out_at", "id")
            .values_list("contact__phone", "list__sender_code__code", "list__name", "opt_out_reason",
                         "opt_out_event__source", "opt_out_event__error_code", "opted_out_at")
            .iterator(chunk_size=5000)
        )  # fmt: skip
        count = write_csv(self.stdout, HEADER, rows)
        self.stderr.write(f"exported={count}")
