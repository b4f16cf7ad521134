from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Carrier signals"

    def ready(self):
        from reports import checks  # noqa: F401  (registers the system checks)
        from reports.schedules import sync_after_migrate

        # Each source's schedules run while DEACT_SOURCES names it (issue 18).
        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="reports.sync_source_schedules")
