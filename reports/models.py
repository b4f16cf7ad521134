"""Records of the files and messages that carry carrier signals."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q


class DeactivationReport(models.Model):
    """One carrier deactivation report file, ingested at most once (R6), all or nothing (R9)."""

    class Origin(models.TextChoices):
        # Where the file came from: a report source of DESIGN.md (see `source`), or an upload (issue 18).
        S3 = "s3", "AWS (S3)"
        TWILIO = "twilio", "Twilio"
        HTTP = "http", "HTTP feed"
        UPLOAD = "upload", "Uploaded file"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        HELD = "held", "Held (R14)"  # would opt out too much of a list: nothing applied, an Admin decides
        DISCARDED = "discarded", "Discarded"  # an Admin discarded it while held: never applied, kept on record
        INTERRUPTED = "interrupted", "Interrupted"  # its worker died mid-ingest (rolled back); retried next run

    origin = models.CharField("source", max_length=8, choices=Origin.choices)
    # What identifies the content: the S3 ETag (the same file under `latest` and under its
    # dated key is one report), an upload's SHA-256, or for Twilio and an HTTP feed the source and day.
    fingerprint = models.CharField(max_length=200, unique=True)
    bucket = models.CharField(max_length=100, blank=True)
    key = models.CharField(max_length=500, blank=True)
    file = models.FileField(upload_to="deactivation-reports/%Y/%m/", blank=True)
    file_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the stored upload was deleted, UPLOAD_RETENTION_DAYS after it came."
    )
    file_name = models.CharField(max_length=255, blank=True)
    report_date = models.DateField(null=True, blank=True, help_text="Dates rows that carry no date of their own.")
    etag = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    held_lists = models.JSONField(
        default=list, blank=True, help_text="While held (R14): each list it would hit, with its counts."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The Admin who released or discarded it while held.",
    )  # fmt: skip
    decided_at = models.DateTimeField(null=True, blank=True)

    rows = models.PositiveIntegerField(default=0)
    valid = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    future = models.PositiveIntegerField(default=0, help_text="Rows dated after the day of ingestion.")
    duplicates = models.PositiveIntegerField(default=0)
    matched_contacts = models.PositiveIntegerField(default=0)
    opted_out = models.PositiveIntegerField(default=0, help_text="Subscriptions opted out.")
    already_opted_out = models.PositiveIntegerField(default=0)
    stale = models.PositiveIntegerField(default=0, help_text="Subscriptions whose consent is newer (R3).")
    bytes_read = models.BigIntegerField(default=0)
    invalid_samples = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-report_date"], name="report_date_desc")]
        permissions = [("release_report", "Can apply or discard a held report (R14)")]

    def __str__(self) -> str:
        return f"{self.key or self.file_name} ({self.report_date or 'no date'})"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def source(self) -> str:
        """The report source of DESIGN.md's vocabulary: aws, twilio, http or upload."""
        return "aws" if self.origin == self.Origin.S3 else self.origin

    def counts(self) -> dict[str, int]:
        names = ["rows", "valid", "invalid", "future", "duplicates", "matched_contacts", "opted_out",
                 "already_opted_out", "stale"]  # fmt: skip
        return {name: getattr(self, name) for name in names}


class AlertSent(models.Model):
    """When an alert of a kind was last sent, so a repeated state (stale ingestion) alerts at most once a day."""

    key = models.CharField(max_length=200, unique=True)
    sent_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key} at {self.sent_at:%Y-%m-%d %H:%M}"


class Channel(models.TextChoices):
    API = "api", "HTTP API"
    CSV = "csv", "CSV file"


class Effect(models.TextChoices):
    """What a receipt or notice caused once its batch was applied (R7); opt-out events point back to it."""

    DELIVERED = "delivered", "Delivered"
    RECORDED = "recorded", "Recorded only (temporary failure)"
    OPTED_OUT = "opted_out", "Opted out"
    SUSPENDED = "suspended", "Suspended (R5)"
    REACTIVATED = "reactivated", "Suspension ended"
    STALE = "stale", "Stale: consent is newer (R3)"
    UNCHANGED = "unchanged", "Nothing left to change"  # already opted out, already suspended, nothing to end
    NOT_FOUND = "not_found", "Number on no list"
    UNSUPPORTED = "unsupported", "Carrier does not suspend"


class DeliveryReceipt(models.Model):
    """A send's receipt with the carrier's error code, recorded once (R6) and applied per the code table."""

    phone = models.CharField(max_length=16, help_text="E.164 (R11).")
    sender_code = models.ForeignKey("contacts.SenderCode", on_delete=models.PROTECT, related_name="receipts")
    carrier = models.ForeignKey("contacts.Carrier", null=True, blank=True, on_delete=models.SET_NULL)
    error_code = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: delivered.")
    occurred_at = models.DateTimeField()
    message_id = models.CharField(max_length=128, blank=True, help_text="The provider's id for the send.")
    source = models.CharField(max_length=4, choices=Channel.choices)
    received_at = models.DateTimeField()
    outcome = models.CharField(max_length=12, choices=Effect.choices)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # A receipt is the same receipt when its id says so, or, without an id, when every field does (R6).
            models.UniqueConstraint(fields=["message_id"], condition=~Q(message_id=""), name="receipt_message_once"),
            models.UniqueConstraint(
                fields=["phone", "sender_code", "error_code", "occurred_at"],
                condition=Q(message_id="", error_code__isnull=False),
                name="receipt_failure_once",
            ),
            # NULLs are distinct in a unique index, so a delivered receipt needs a constraint of its own.
            models.UniqueConstraint(
                fields=["phone", "sender_code", "occurred_at"],
                condition=Q(message_id="", error_code__isnull=True),
                name="receipt_delivery_once",
            ),
        ]
        indexes = [
            models.Index(fields=["phone", "-occurred_at"], name="receipt_phone"),
            models.Index(fields=["-received_at"], name="receipt_received"),
            # The changelist's date drill-down: its first and last day, and a year, month or day's rows.
            models.Index(fields=["occurred_at"], name="receipt_occurred"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.error_code or 'delivered'} at {self.occurred_at:%Y-%m-%d %H:%M}"


class CarrierNotice(models.Model):
    """A carrier saying a number was deactivated, disconnected, is porting, suspended or reactivated."""

    class Event(models.TextChoices):
        DEACTIVATED = "deactivated", "Deactivated"
        DISCONNECTED = "disconnected", "Disconnected"
        PORTING = "porting", "Porting"
        SUSPENDED = "suspended", "Suspended"
        REACTIVATED = "reactivated", "Reactivated"

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected"  # recorded, never applied: see the rejection reason

    phone = models.CharField(max_length=16, help_text="E.164 (R11).")
    carrier = models.ForeignKey("contacts.Carrier", on_delete=models.PROTECT, related_name="notices")
    event = models.CharField(max_length=12, choices=Event.choices)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=4, choices=Channel.choices)
    received_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices)
    rejection_reason = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=12, choices=Effect.choices)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # A replayed notice is the same notice (R6).
            models.UniqueConstraint(fields=["phone", "carrier", "event", "occurred_at"], name="notice_once"),
        ]
        indexes = [
            models.Index(fields=["phone", "-occurred_at"], name="notice_phone"),
            models.Index(fields=["-received_at"], name="notice_received"),
            models.Index(fields=["occurred_at"], name="notice_occurred"),  # the date drill-down, as for receipts
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.event} at {self.occurred_at:%Y-%m-%d %H:%M}"


class UsedSignature(models.Model):
    """A Signal API signature already accepted, kept until its timestamp leaves the window so it is never
    accepted twice: a captured request replayed within the five minutes is refused (the table is shared by
    every web worker, unlike a process's memory)."""

    digest = models.CharField(max_length=64, unique=True, help_text="The request's HMAC-SHA256, hex.")
    expires_at = models.DateTimeField(db_index=True, help_text="When the signature's timestamp goes stale.")

    def __str__(self) -> str:
        return f"{self.digest[:12]}… until {self.expires_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def claim(cls, digest: str, *, expires_at: datetime, now: datetime) -> bool:
        """Remember an accepted signature; False when it was accepted before. Call inside the request's
        transaction: if what it carries fails to apply, the claim rolls back and the sender may retry."""
        cls.objects.filter(expires_at__lt=now).delete()  # stale ones are refused by their timestamp anyway
        # get_or_create inserts in a savepoint: a concurrent twin waits on the unique index, then sees the
        # first one's row once it commits, and is refused.
        _, created = cls.objects.get_or_create(digest=digest, defaults={"expires_at": expires_at})
        return created
