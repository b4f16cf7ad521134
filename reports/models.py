"""Records of the files and messages that carry carrier signals."""

from datetime import timedelta

from django.db import models


class DeactivationReport(models.Model):
    """One carrier deactivation report file, ingested at most once (R6), all or nothing (R9)."""

    class Origin(models.TextChoices):
        S3 = "s3", "AWS S3"
        UPLOAD = "upload", "Uploaded file"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    origin = models.CharField(max_length=8, choices=Origin.choices)
    # What identifies the content: the S3 ETag (the same file under `latest` and under its
    # dated key is one report) or an upload's SHA-256.
    fingerprint = models.CharField(max_length=200, unique=True)
    bucket = models.CharField(max_length=100, blank=True)
    key = models.CharField(max_length=500, blank=True)
    file = models.FileField(upload_to="deactivation-reports/%Y/%m/", blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    report_date = models.DateField(null=True, blank=True, help_text="Dates rows that carry no date of their own.")
    etag = models.CharField(max_length=100, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)

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

    def __str__(self) -> str:
        return f"{self.key or self.file_name} ({self.report_date or 'no date'})"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    def counts(self) -> dict[str, int]:
        names = ["rows", "valid", "invalid", "future", "duplicates", "matched_contacts", "opted_out",
                 "already_opted_out", "stale"]  # fmt: skip
        return {name: getattr(self, name) for name in names}
