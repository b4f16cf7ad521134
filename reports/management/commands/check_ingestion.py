from django.core.management.base import BaseCommand

from reports import health


class Command(BaseCommand):
    help = (
        "Exit 0 when the newest succeeded report of every enabled source is younger than --max-age-hours and no "
        "report is interrupted; 1 otherwise. One line, for cron and monitors."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-age-hours", type=float, default=health.MAX_AGE_HOURS)

    def handle(self, *args, max_age_hours, **options):
        state = health.ingestion_health(max_age_hours=max_age_hours)
        self.stdout.write(state.line())
        if not state.ok:
            raise SystemExit(1)
