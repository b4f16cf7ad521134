from django.core.management.base import BaseCommand, CommandError

from contacts.exports import Column, Export, write_out
from contacts.models import SubscriberList, Subscription


class Command(BaseCommand):
    help = "Write a list's sendable numbers (opted in, not suspended), one E.164 number a line."

    def add_arguments(self, parser):
        parser.add_argument("--sender-code", required=True)
        parser.add_argument("--list", required=True, dest="list_name")

    def handle(self, *args, sender_code, list_name, **options):
        try:
            lst = SubscriberList.objects.get(sender_code__code=sender_code, name=list_name)
        except SubscriberList.DoesNotExist:
            raise CommandError(f"no list {list_name!r} on sender code {sender_code!r}") from None
        numbers = Subscription.objects.sendable().filter(list=lst).order_by("contact__phone")
        write_out(
            self.stdout, Export("sendable", [Column("phone", "contact__phone")], numbers, with_header=False).stream()
        )
