from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from contacts.csvio import parse_timestamp
from reports import health


class Command(BaseCommand):
    help = (
        "Exit 0 when the newest succeeded report of every enabled source is younger than --max-age-hours and no "
        "report is interrupted; 1 otherwise. One line, for cron and monitors."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-age-hours", type=float, default=health.MAX_AGE_HOURS)
        parser.add_argument("--now", help="ISO-8601 timestamp to judge ages at (default: now)")

    def handle(self, *args, max_age_hours, now, **options):
        try:
            now = parse_timestamp(now) if now else timezone.now()
        except ValueError as exc:
            raise CommandError(f"--now: {exc}") from None
        state = health.ingestion_health(now=now, max_age_hours=max_age_hours)
        self.stdout.write(state.line())
        if not state.ok:
            raise SystemExit(1)
