"""Sender codes, lists, contacts and their consent: the state the rules R1–R7 change.

Every change of subscription state goes through `contacts.services`; the models hold
fields, constraints, indexes and the read queries the screens and commands run.
"""

import re
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

SUSPENSION_DAYS = timedelta(days=30)  # R5: a carrier suspension lasts at most 30 days


class Reason(models.TextChoices):
    DEACTIVATED = "deactivated", "Deactivated"
    DISCONNECTED = "disconnected", "Disconnected"
    PORTING = "porting", "Porting"
    PERMANENT_FAILURE = "permanent_failure", "Permanent failure"
    STOP = "stop", "STOP"
    OPERATOR = "operator", "Operator"


class Source(models.TextChoices):
    DEACTIVATION_REPORT = "deactivation_report", "Deactivation report"
    DELIVERY_RECEIPT = "delivery_receipt", "Delivery receipt"
    CARRIER_NOTICE = "carrier_notice", "Carrier notice"
    OPERATOR = "operator", "Operator"
    IMPORT = "import", "Import"
    REENGAGEMENT = "reengagement", "Re-engagement"  # the owner said yes to an emailed re-consent link (R4)


class SuspensionEnd(models.TextChoices):
    EXPIRED = "expired", "Expired after 30 days"
    REACTIVATED = "reactivated", "Reactivated by the carrier"
    DEACTIVATED = "deactivated", "Deactivated"


class Carrier(models.Model):
    name = models.CharField(max_length=80, unique=True)
    aliases = models.JSONField(default=list, blank=True, help_text="Other names the carrier reports under.")
    supports_suspension = models.BooleanField(
        default=False, help_text="The carrier reports temporary suspensions (R5) instead of deactivations."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def by_name(cls) -> dict[str, "Carrier"]:
        """Every carrier keyed by its lower-cased name and aliases, for matching input."""
        index: dict[str, Carrier] = {}
        for carrier in cls.objects.all():
            for name in [carrier.name, *carrier.aliases]:
                index[name.strip().lower()] = carrier
        return index


class CarrierErrorCode(models.Model):
    class Action(models.TextChoices):
        OPT_OUT_NUMBER = "opt_out_number", "Opt out the number everywhere (R1)"
        OPT_OUT_SENDER_CODE = "opt_out_sender_code", "Opt out on the sender code (R2)"
        SUSPEND = "suspend", "Suspend for 30 days (R5)"
        IGNORE = "ignore", "Temporary failure: record only"

    code = models.PositiveIntegerField(unique=True)
    description = models.CharField(max_length=200)
    action = models.CharField(max_length=24, choices=Action.choices, default=Action.IGNORE)
    reason = models.CharField(
        max_length=24,
        choices=Reason.choices,
        blank=True,
        help_text="Recorded on the opt-outs this code causes.",
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                name="opt_out_codes_have_a_reason",
                violation_error_message="A code that opts out must say which reason it records.",
                condition=~Q(action__in=["opt_out_number", "opt_out_sender_code"]) | ~Q(reason=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"


class SenderCode(models.Model):
    class Kind(models.TextChoices):
        SHORT_CODE = "short_code", "Short code"
        TOLL_FREE = "toll_free", "Toll-free"
        LONG_CODE = "long_code", "10DLC long code"

    code = models.CharField(max_length=20, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    name = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})" if self.name else self.code

    TOLL_FREE_AREA_CODES = {"800", "833", "844", "855", "866", "877", "888"}

    @classmethod
    def kind_for(cls, code: str) -> str:
        """Infer the kind from the code: 5–6 digits is a short code, 8XX numbers are toll-free."""
        digits = re.sub(r"\D", "", code)
        if len(digits) in (5, 6) and not code.startswith("+"):
            return cls.Kind.SHORT_CODE
        national = digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
        if national[:3] in cls.TOLL_FREE_AREA_CODES:
            return cls.Kind.TOLL_FREE
        return cls.Kind.LONG_CODE


class SubscriberList(models.Model):
    sender_code = models.ForeignKey(SenderCode, on_delete=models.PROTECT, related_name="lists")
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["sender_code__code", "name"]
        constraints = [models.UniqueConstraint(fields=["sender_code", "name"], name="list_name_unique_per_code")]

    def __str__(self) -> str:
        return f"{self.sender_code.code} / {self.name}"


class Contact(models.Model):
    phone = models.CharField(max_length=16, unique=True, help_text="E.164, e.g. +12025550143 (R11).")
    email = models.EmailField(blank=True)
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.phone


class SubscriptionQuerySet(models.QuerySet):
    def opted_in(self):
        return self.filter(status=Subscription.Status.OPTED_IN)

    def opted_out(self):
        return self.filter(status=Subscription.Status.OPTED_OUT)

    def suspended(self):
        """Opted in, but the contact's number is paused by its carrier (R5)."""
        return self.opted_in().filter(models.Exists(self._active_suspension()))

    def sendable(self):
        """The audience a send may go to: opted in and not suspended (R5)."""
        return self.opted_in().exclude(models.Exists(self._active_suspension()))

    @staticmethod
    def _active_suspension():
        return Suspension.objects.active().filter(contact_id=models.OuterRef("contact_id"))

    def opted_out_between(self, since: datetime | None, until: datetime | None):
        qs = self.opted_out()
        if since:
            qs = qs.filter(opted_out_at__gte=since)
        if until:
            qs = qs.filter(opted_out_at__lt=until)
        return qs


class Subscription(models.Model):
    class Status(models.TextChoices):
        OPTED_IN = "opted_in", "Opted in"
        OPTED_OUT = "opted_out", "Opted out"  # stays out until a new, explicit opt-in (R4)

    # No index of its own: the unique (contact, list) constraint's index leads with the contact.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="subscriptions", db_index=False)
    list = models.ForeignKey(SubscriberList, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPTED_IN)
    opted_in_at = models.DateTimeField(help_text="The latest consent; signals dated before it are stale (R3).")
    opt_in_source = models.CharField(max_length=24, choices=Source.choices, default=Source.IMPORT)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opt_out_reason = models.CharField(max_length=24, choices=Reason.choices, blank=True)
    # Events are never deleted (R7), so the database need not check this link: a foreign-key
    # check locks the event row and doubled the cost of opting out a report's subscriptions.
    opt_out_event = models.ForeignKey(
        "OptOutEvent", null=True, blank=True, on_delete=models.DO_NOTHING, related_name="subscriptions",
        db_constraint=False, db_index=False,
    )  # fmt: skip

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "list"], name="one_subscription_per_list")]
        indexes = [
            # The list dashboard and chart: a list's opted-out subscriptions by date and reason; the reason is
            # a key column so counting by reason over a period never reads the table (index-only scan).
            models.Index(
                fields=["list", "status", "opted_out_at", "opt_out_reason"], name="sub_list_status_out_reason"
            ),
            # The Opted-Out tab and export, newest first, across a sender code's lists.
            models.Index(fields=["status", "-opted_out_at"], name="sub_status_out_at"),
            # The Opted-Out tab's pages: newest first with the contact as the tie-breaker, so a page starts at its
            # cursor even inside a daily report's run of opt-outs that share one time; the list and reason the tab
            # filters by, and the event its source filter joins, are key columns read from the index without
            # visiting the table. Opted-out rows only.
            models.Index(
                fields=["-opted_out_at", "-contact", "list", "opt_out_reason", "opt_out_event"],
                condition=Q(status="opted_out"),
                name="sub_out_page",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} on {self.list}"

    @property
    def is_opted_in(self) -> bool:
        return self.status == self.Status.OPTED_IN


class ImmutableQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Opt-out events are an immutable record (R7).")

    def delete(self):
        raise TypeError("Opt-out events are an immutable record (R7).")


class OptOutEvent(models.Model):
    """Why and when a number left a sender code's lists: written once, never changed (R7)."""

    # No index of their own on the contact, the sender code and the carrying record's type: the composite
    # indexes below lead with each, and every index here is upkeep on each of a report's events.
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="opt_out_events", db_index=False)
    # No database constraint on the sender code and the carrying record's type: the service writes them from
    # the list of a subscription it updates in the same statement and from a content type that is never
    # deleted, so a check per event at COMMIT (two of every three) proves nothing; Django's PROTECT stays.
    # The contact keeps its constraint: a contact can be deleted while a batch runs.
    sender_code = models.ForeignKey(
        SenderCode, on_delete=models.PROTECT, related_name="opt_out_events", db_constraint=False, db_index=False
    )
    reason = models.CharField(max_length=24, choices=Reason.choices)
    source = models.CharField(max_length=24, choices=Source.choices)
    error_code = models.PositiveIntegerField(null=True, blank=True, help_text="The carrier's error code, if any.")
    occurred_at = models.DateTimeField(help_text="When the carrier or operator says it happened.")
    recorded_at = models.DateTimeField(help_text="When this product recorded it.")
    ref_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, db_constraint=False, db_index=False
    )
    ref_id = models.BigIntegerField(null=True, blank=True)
    ref = GenericForeignKey("ref_type", "ref_id")

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["sender_code", "-occurred_at"], name="event_code_occurred"),
            models.Index(fields=["reason", "occurred_at"], name="event_reason_occurred"),
            models.Index(fields=["occurred_at"], name="event_occurred"),
            models.Index(fields=["contact", "sender_code", "recorded_at"], name="event_contact_code"),
            models.Index(fields=["ref_type", "ref_id"], name="event_ref"),
            # The changelist's source filter, alone or with a code: counted from the index alone, and the date
            # drill-down's first and last day read at its ends.
            models.Index(fields=["source", "occurred_at", "sender_code", "id"], name="event_source_code"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} out of {self.sender_code.code}: {self.get_reason_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Opt-out events are an immutable record (R7).")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Opt-out events are an immutable record (R7).")


class SuspensionQuerySet(models.QuerySet):
    def active(self):
        """Not ended; an ended suspension is never active, whatever the clock (R5a)."""
        return self.filter(ended_at__isnull=True)

    def due(self, now: datetime):
        """Active suspensions whose 30 days are up by `now`."""
        return self.active().filter(expires_at__lte=now)


class Suspension(models.Model):
    """The carrier paused the line: keep the contact opted in but do not send (R5)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="suspensions")
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.SET_NULL)
    started_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=12, choices=SuspensionEnd.choices, blank=True)
    source = models.CharField(max_length=24, choices=Source.choices)
    ref_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    ref_id = models.BigIntegerField(null=True, blank=True)
    ref = GenericForeignKey("ref_type", "ref_id")

    objects = SuspensionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact"],
                condition=Q(ended_at__isnull=True),
                name="one_active_suspension_per_contact",
            ),
            # Replaying the notice that started a suspension never starts a second one (R6).
            models.UniqueConstraint(fields=["contact", "started_at"], name="one_suspension_per_start"),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(ended_at__isnull=True), name="suspension_active_due"),
            # The Suspended tab pages active suspensions latest first, stopping after a page.
            models.Index(
                fields=["-started_at", "-id"], condition=Q(ended_at__isnull=True), name="suspension_active_latest"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} suspended from {self.started_at:%Y-%m-%d}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class ListTally(models.Model):
    """A change to a list's subscriber and suspended counts, written by database triggers (migration 0007).

    The dashboard sums a list's rows instead of counting millions of subscriptions per page view.
    On PostgreSQL every statement that changes subscriptions or suspensions appends one row per list it
    touched, so concurrent writers never wait on a shared counter row; `tallies.compact` folds them
    together. On SQLite (one writer at a time) the triggers keep one row per list up to date.
    """

    list = models.ForeignKey(SubscriberList, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    subscribers = models.BigIntegerField(default=0, help_text="Opted in, suspended or not (R5).")
    suspended = models.BigIntegerField(default=0, help_text="Opted in with an active suspension.")


class OptOutTally(models.Model):
    """A change to the count of a list's opted-out subscriptions by day (UTC) and reason; see ListTally."""

    list = models.ForeignKey(SubscriberList, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    day = models.DateField()
    reason = models.CharField(max_length=24, choices=Reason.choices)
    count = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["list", "day"], name="optout_tally_list_day")]


def start_of_day(day: date) -> datetime:
    """A date alone means 00:00 UTC (DESIGN.md)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


# The ledger's table lives in a module of its own; imported here so the app registry finds it.
from contacts.ledger_models import DeactivatedNumber  # noqa: E402, F401

# Re-engagement by email keeps its models in a module of its own; imported here so the app registers them.
from contacts.reengagement_models import Reengagement, ReengagementQueue  # noqa: E402, F401

# What the staff screens stand on (proxies for their admin pages, saved audiences); a module of its own for size.
from contacts.screen_models import HasEmail, ListHealth, ReassignedCheck, SavedFilter, SmsContact  # noqa: E402, F401
