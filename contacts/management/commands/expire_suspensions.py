from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from contacts.csvio import parse_timestamp
from contacts.services import expire_suspensions


class Command(BaseCommand):
    help = "End every suspension whose 30 days are up (R5a)."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO-8601 timestamp to expire as of (default: now)")

    def handle(self, *args, now, **options):
        try:
            now = parse_timestamp(now) if now else timezone.now()
        except ValueError as exc:
            raise CommandError(f"--now: {exc}") from None
        ended = expire_suspensions(now=now)
        self.stdout.write(self.style.SUCCESS(f"suspensions_expired={ended} now={now.isoformat()}"))
