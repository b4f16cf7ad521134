from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from contacts import reengagement
from contacts.csvio import parse_timestamp, write_csv
from contacts.models import SenderCode, SubscriberList


class Command(BaseCommand):
    help = (
        "Write re-engagement invitations as CSV on stdout and mark them invited: "
        + ",".join(reengagement.EXPORT_HEADER)
        + ". Subscriptions invited before are left out unless --again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sender-code")
        parser.add_argument("--list", dest="list_name", help="a list name (on every sender code unless one is given)")
        parser.add_argument("--since", help="opted out on or after this ISO-8601 date or timestamp")
        parser.add_argument(
            "--again", action="store_true", help="also invite afresh those invited before who have not answered"
        )

    def handle(self, *args, sender_code, list_name, since, again, **options):
        try:
            since = parse_timestamp(since) if since else None
        except ValueError as exc:
            raise CommandError(f"--since: {exc}") from None
        if sender_code and not SenderCode.objects.filter(code=sender_code).exists():
            raise CommandError(f"no sender code {sender_code!r}")
        if list_name and not SubscriberList.objects.filter(name=list_name).exists():
            raise CommandError(f"no list {list_name!r}")
        subscriptions = reengagement.filtered(
            reengagement.queue(), sender_code=sender_code, list_name=list_name, since=since
        )
        try:
            # One transaction: an export that fails half-way marks nobody invited, so a rerun asks them all.
            with transaction.atomic():
                batch = reengagement.invite(subscriptions, again=again)
                rows = (invitation.row() for invitation in reengagement.invitations(batch))
                count = write_csv(self.stdout, reengagement.EXPORT_HEADER, rows)
        except reengagement.NoBaseUrl as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"exported={count}")
