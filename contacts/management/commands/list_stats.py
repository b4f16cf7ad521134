import json

from django.core.management.base import BaseCommand

from contacts.services import list_counts


class Command(BaseCommand):
    help = "One JSON object a line per list: sender_code, list, subscribers, sendable, suspended, opted_out."

    def handle(self, *args, **options):
        for counts in list_counts():
            self.stdout.write(json.dumps({
                "sender_code": counts.sender_code, "list": counts.list, "subscribers": counts.subscribers,
                "sendable": counts.sendable, "suspended": counts.suspended, "opted_out": counts.opted_out,
            }))  # fmt: skip
