"""What the staff screens stand on: the proxies their admin pages hang from, and the audiences staff save.

Kept apart from contacts.models (which imports them, so the app registers them) for size.
"""

from django.conf import settings
from django.db import models

from contacts.models import Carrier, Contact, Source, SubscriberList, Subscription, SubscriptionQuerySet, start_of_day


class SmsContact(Subscription):
    """The SMS Contacts screen: a sender code's subscribers, opt-outs and suspensions by number."""

    class Meta:
        proxy = True
        verbose_name = "SMS contact"
        verbose_name_plural = "SMS contacts"
        permissions = [("export_numbers", "Can export raw phone numbers")]  # R12


class ListHealth(SubscriberList):
    """The list dashboard and the Opt-Out Reasons chart."""

    class Meta:
        proxy = True
        verbose_name = "list health"
        verbose_name_plural = "list health"


class HasEmail(models.TextChoices):
    YES = "yes", "Has an email address"
    NO = "no", "Has no email address"


class SavedFilter(models.Model):
    """An audience staff build once and reuse: only sendable subscriptions ever match (R5)."""

    name = models.CharField(max_length=120, unique=True)
    lists = models.ManyToManyField(SubscriberList, blank=True, help_text="Any of these lists; none means every list.")
    opted_in_after = models.DateField(null=True, blank=True, help_text="Latest opt-in on or after this day (UTC).")
    opted_in_before = models.DateField(null=True, blank=True, help_text="Latest opt-in before this day (UTC).")
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.SET_NULL)
    has_email = models.CharField(max_length=3, choices=HasEmail.choices, blank=True)
    last_opt_in_source = models.CharField(max_length=24, choices=Source.choices, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "audience filter"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def subscriptions(self, list_ids: list[int] | None = None) -> SubscriptionQuerySet:
        """The sendable subscriptions that match; suspended and opted-out ones never do (R5)."""
        qs = Subscription.objects.sendable()
        if list_ids is None:
            list_ids = list(self.lists.values_list("id", flat=True)) if self.pk else []
        if list_ids:
            qs = qs.filter(list_id__in=list_ids)
        if self.opted_in_after:
            qs = qs.filter(opted_in_at__gte=start_of_day(self.opted_in_after))
        if self.opted_in_before:
            qs = qs.filter(opted_in_at__lt=start_of_day(self.opted_in_before))
        if self.carrier_id:
            qs = qs.filter(contact__carrier_id=self.carrier_id)
        if self.has_email == HasEmail.YES:
            qs = qs.exclude(contact__email="")
        elif self.has_email == HasEmail.NO:
            qs = qs.filter(contact__email="")
        if self.last_opt_in_source:
            qs = qs.filter(opt_in_source=self.last_opt_in_source)
        return qs

    def contact_ids(self, list_ids: list[int] | None = None) -> models.QuerySet:
        """Each matching number once, however many of the lists it is on."""
        return self.subscriptions(list_ids).values("contact_id").distinct()

    def count(self, list_ids: list[int] | None = None) -> int:
        """How many numbers a send to this audience would reach right now."""
        return self.contact_ids(list_ids).count()

    def numbers(self, list_ids: list[int] | None = None) -> models.QuerySet:
        """The matching numbers in E.164, in a stable order for streaming."""
        return Contact.objects.filter(id__in=self.contact_ids(list_ids)).order_by("id").values_list("phone", flat=True)


class ReassignedCheck(Contact):
    """The admin page where staff paste numbers with consent dates and read the ledger's answers (R13)."""

    class Meta:
        proxy = True
        verbose_name = "reassigned-number check"
        verbose_name_plural = "reassigned-number checks"
