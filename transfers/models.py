"""Operator CSV imports: the uploaded file, its preview (a dry run), the confirmation and what applying it did."""

from django.conf import settings
from django.db import models


class ImportKind(models.TextChoices):
    SUBSCRIPTIONS = "subscriptions", "Subscriptions (opt-ins)"
    OPT_OUTS = "opt_outs", "Manual opt-outs"
    RECEIPTS = "receipts", "Delivery receipts"
    CARRIER_NOTICES = "carrier_notices", "Carrier notices"


class JobRecord(models.Model):
    """Who started a file job and when, and how it ended: shared by imports and exports."""

    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]


class ImportJob(JobRecord):
    """One uploaded file: previewed before anything is written, applied once and in one transaction when confirmed."""

    class Status(models.TextChoices):
        VALIDATING = "validating", "Validating"  # the dry run is reading the file
        PREVIEWED = "previewed", "Ready to confirm"
        CONFIRMED = "confirmed", "Confirmed: applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"  # not this kind of file, or the apply crashed; nothing was written
        HELD = "held", "Held (R14)"  # would opt out too much of a list: nothing written, an Admin decides
        DISCARDED = "discarded", "Discarded"  # discarded by an Admin while held; nothing written

    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    file = models.FileField(upload_to="imports/%Y/%m/")
    file_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the stored upload was deleted, UPLOAD_RETENTION_DAYS after it came."
    )
    file_name = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    create_lists = models.BooleanField(
        default=False, help_text="Subscriptions only: create the sender codes and lists the file names."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.VALIDATING, db_index=True)
    in_background = models.BooleanField(default=False, help_text="Too big for a request: a worker runs it.")
    # Progress is written from a connection of its own, so staff see it while the applying transaction runs.
    rows_total = models.PositiveIntegerField(default=0, help_text="Lines in the file, header excluded.")
    rows_done = models.PositiveIntegerField(default=0)
    held_lists = models.JSONField(
        default=list, blank=True, help_text="While held (R14): each list it would hit, with its counts."
    )
    preview = models.JSONField(default=dict, blank=True, help_text="What the dry run counted.")
    result = models.JSONField(default=dict, blank=True, help_text="What applying the file did.")
    samples = models.JSONField(default=list, blank=True, help_text="Invalid and refused rows: line and reason.")
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta(JobRecord.Meta):
        verbose_name = "CSV import"

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.file_name}"

    @property
    def percent(self) -> int:
        return min(100, 100 * self.rows_done // self.rows_total) if self.rows_total else 0


class ExportJob(JobRecord):
    """An export too big for a request: written to a file by a worker, then offered for download to staff who may
    have it. Who asked and what for stays on record; the file goes after UPLOAD_RETENTION_DAYS."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Writing"
        READY = "ready", "Ready to download"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=40, help_text="Which export: opted-out, subscriptions…")
    title = models.CharField(max_length=255, blank=True, help_text="What it covers, as the file name says.")
    model = models.CharField(max_length=100, help_text="app_label.model of the rows")
    # The export's query, pickled as Django documents (QuerySet.query): written and read by this app only.
    query = models.BinaryField()
    columns = models.JSONField(help_text="[[header, ORM path], …]")
    permission = models.CharField(max_length=100, help_text="Needed to download the file.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    rows_total = models.PositiveBigIntegerField(default=0, help_text="Rows expected (an estimate, at most).")
    rows_done = models.PositiveBigIntegerField(default=0)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    file_removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the file was deleted, UPLOAD_RETENTION_DAYS after it was asked for."
    )
    size = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)

    class Meta(JobRecord.Meta):
        verbose_name = "CSV export"

    def __str__(self) -> str:
        return f"{self.name} {self.title}".strip()

    @property
    def percent(self) -> int:
        if self.status == self.Status.READY:
            return 100
        return min(99, 100 * self.rows_done // self.rows_total) if self.rows_total else 0
