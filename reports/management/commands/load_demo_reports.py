from django.core.management.base import BaseCommand

from reports import demo


class Command(BaseCommand):
    help = "After load_demo: three demo deactivation reports, succeeded, held (R14) and failed; once."

    def handle(self, *args, **options):
        if demo.loaded():
            self.stdout.write("Demo reports already loaded")
            return
        statuses = demo.load()
        self.stdout.write(self.style.SUCCESS("Demo reports loaded: " + " ".join(
            f"{name}={status}" for name, status in statuses.items())))  # fmt: skip
