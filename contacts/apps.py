from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "SMS program"  # the admin index section; "SMS contacts" is one of its screens

    def ready(self):
        from contacts.roles import sync_after_migrate
        from contacts.tallies import rebuild_after_flush

        # The staff groups follow models added after their migration, and survive test database flushes.
        post_migrate.connect(sync_after_migrate, dispatch_uid="contacts.sync_groups")
        post_migrate.connect(rebuild_after_flush, sender=self, dispatch_uid="contacts.rebuild_tallies")
