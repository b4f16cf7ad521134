"""The reassigned-number ledger's tables, kept apart from contacts.models (which imports them) for size."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class LedgerRow(models.Model):
    """A number a carrier said was deactivated or disconnected on a day, contact or not (R13)."""

    number = models.BigIntegerField(help_text="The E.164 number's digits: +12025550143 is 12025550143.")
    deactivated_on = models.DateField(help_text="The UTC day the carrier gives.")
    # The report or notice that told us; no foreign-key check, which would cost a lookup per inserted row.
    ref_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
        related_name="+",
    )  # fmt: skip
    ref_id = models.BigIntegerField(null=True, blank=True)
    ref = GenericForeignKey("ref_type", "ref_id")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"+{self.number} deactivated on {self.deactivated_on}"

    @property
    def phone(self) -> str:
        return f"+{self.number}"


class DeactivatedNumber(LedgerRow):
    """The ledger proper: one row per number and day (R6), sized for ~35M rows a year.

    The number is its E.164 digits as a bigint and the primary key (number, day) is the only B-tree, so a
    lookup reads the index alone; migration 0009 adds a BRIN index on the day for the retention prune.
    """

    pk = models.CompositePrimaryKey("number", "deactivated_on")

    class Meta:
        verbose_name = "known deactivation"


class RecentDeactivation(LedgerRow):
    """The ledger's newest rows, as reports and notices wrote them, until `ledger.fold` moves them over.

    Appended to in the report's own transaction without touching the big B-tree: a million random inserts
    into it would cost more than the rest of the report's ingestion. Small (hours of rows) and read by a
    hash join; a number and day may sit here twice until the fold keeps one (R6).
    """

    id = models.BigAutoField(primary_key=True)

    class Meta:
        verbose_name = "recent deactivation"
