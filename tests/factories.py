"""factory-boy factories for the domain; numbers are valid US numbers in E.164 (R11)."""

from datetime import UTC, datetime

import factory

from contacts.models import Carrier, Contact, SenderCode, SubscriberList, Subscription


def at(text: str) -> datetime:
    """An aware UTC timestamp from ISO text; a date alone is 00:00 UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class SenderCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SenderCode
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: str(20000 + n))
    kind = SenderCode.Kind.SHORT_CODE
    name = factory.Sequence(lambda n: f"Brand {n}")


class SubscriberListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SubscriberList

    sender_code = factory.SubFactory(SenderCodeFactory)
    name = factory.Sequence(lambda n: f"List {n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact
        django_get_or_create = ("phone",)

    phone = factory.Sequence(lambda n: f"+1202555{n % 10000:04d}")
    carrier = factory.LazyFunction(lambda: Carrier.objects.get(name="T-Mobile"))


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    contact = factory.SubFactory(ContactFactory)
    list = factory.SubFactory(SubscriberListFactory)
    opted_in_at = factory.LazyFunction(lambda: at("2026-01-01"))
