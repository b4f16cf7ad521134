"""django-import-export resources for the operator CSV files, set-based underneath.

An import resource reads the uploaded CSV as a stream and hands it to the domain services in one
batch (`apply_opt_ins`, `apply_signals`, the receipts and notices intake): never a save per row. Its
`import_data(dry_run=True)` runs the very same statements inside a transaction that is rolled back, so
the preview counts are what confirming will do. Export resources declare their columns with the
library's fields and stream as contacts.exports does (COPY on PostgreSQL), every cell formula-escaped (R12).
"""

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar

from import_export import resources
from import_export.fields import Field
from import_export.results import Error, Result, RowResult

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from contacts.consent import apply_opt_in_columns
from contacts.csvio import SAMPLES, BadFile, RowErrors
from contacts.exports import Column, Export
from contacts.models import Contact, OptOutEvent, Source, Subscription
from contacts.opt_out_rows import OptOutRows
from contacts.reengagement import state as reengagement_state
from contacts.services import Action, apply_staged_signals, ref_columns
from contacts.signal_staging import SignalBatch
from contacts.subscription_rows import SubscriptionRows
from reports.intake import SignalIntake
from reports.models import Channel, DeactivationReport
from reports.notices import NoticeIntake
from reports.receipts import ReceiptIntake
from transfers.models import ImportKind

PROGRESS_EVERY = 10_000
# Creating the sender codes and lists a subscriptions file names is adding them: only staff who may add both in
# the admin (not the Operator group, R12). The command line runs as the deployment and may (user None).
CREATE_LISTS_PERMISSIONS = ("contacts.add_sendercode", "contacts.add_subscriberlist")
Progress = Callable[[int], None]  # rows read so far


@dataclass
class Summary:
    """What an import did, or would do: rows by fate, the service's own counts, and the bad rows named (R8)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0  # valid rows that change nothing: repeats, already so, stale (R3)
    invalid: int = 0  # unreadable rows and refusals (R3/R4), each sampled with its line and reason
    details: dict[str, int] = field(default_factory=dict)
    samples: list[dict] = field(default_factory=list)

    def counts(self) -> dict:
        return {"rows": self.rows, "created": self.created, "updated": self.updated, "skipped": self.skipped,
                "invalid": self.invalid, "details": self.details}  # fmt: skip

    def line(self) -> str:
        """One line of key=value counts for the commands."""
        return " ".join(f"{name}={value}" for name, value in self.counts().items() if name != "details")

    def as_result(self) -> "ImportResult":
        """The library's Result: its totals and one invalid row per sample, for code that speaks its API."""
        result = ImportResult()
        totals = {RowResult.IMPORT_TYPE_NEW: self.created, RowResult.IMPORT_TYPE_UPDATE: self.updated,
                  RowResult.IMPORT_TYPE_SKIP: self.skipped, RowResult.IMPORT_TYPE_INVALID: self.invalid}  # fmt: skip
        result.totals.update(totals)
        result.total_rows = self.rows
        for sample in self.samples:
            result.append_invalid_row(sample["line"], {}, ValidationError(sample["reason"]))
        return result


class ImportResult(Result):
    """A Result whose invalid rows are named without holding back the rest of the file (R8)."""

    def has_validation_errors(self) -> bool:
        # The library's admin offers no confirm while this is true; here a bad number or a refused consent is
        # counted and named, and confirming applies the good rows. A file that is not this kind of file at all
        # is a base error instead (has_errors), and that does hold the confirm back.
        return False


def may_create_lists(user) -> bool:
    """Whether an import run for `user` may create unknown sender codes and lists (None: the command line)."""
    return user is None or user.has_perms(CREATE_LISTS_PERMISSIONS)


def sampled(*groups: list[dict]) -> list[dict]:
    return sorted((s for group in groups for s in group), key=lambda s: s["line"])[:SAMPLES]


class ImportResource(resources.Resource):
    """A CSV import applied through the domain services in one transaction; a dry run rolls it back."""

    kind: ClassVar[ImportKind]
    header: ClassVar[str]  # the columns, as the form and the commands show them

    def __init__(self, *, user=None, create_lists: bool = False, progress: Progress | None = None, **kwargs):
        super().__init__(**kwargs)
        self.user = user if user is not None and user.pk else None
        self.create_lists = create_lists and may_create_lists(user)
        self.progress = progress

    def apply(self, stream: BinaryIO) -> Summary:
        raise NotImplementedError

    @classmethod
    def get_display_name(cls) -> str:
        return cls.kind.label  # the library's import form names its resources (ModelResource has this; Resource not)

    def get_user_visible_fields(self):
        # The library's import page lists these as the file's columns: ours are one header, optional ones bracketed.
        return [Field(column_name=self.header)]

    def run(self, stream: BinaryIO, *, dry_run: bool) -> Summary:
        """Apply the file in one transaction; BadFile (nothing changed) when it is not this kind of file."""
        with transaction.atomic():
            summary = self.apply(stream)
            if dry_run:
                transaction.set_rollback(True)
        return summary

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None, **kwargs) -> Result:
        """The library's entry point: a binary stream (or a tablib Dataset) in, its Result out. The stream is
        closed here: the library hands over its stored file open (admin_mixins.StreamedTmpStorage), then removes it."""
        stream = dataset if hasattr(dataset, "read") else io.BytesIO(dataset.export("csv").encode())
        with stream:
            try:
                return self.run(stream, dry_run=dry_run).as_result()
            except BadFile as exc:
                if raise_errors:
                    raise
                result = ImportResult()
                result.append_base_error(Error(exc))
                return result

    def ticking(self, items: Iterable, read: Callable[[], int]) -> Iterator:
        """Pass items (rows, or batches of them) through, reporting the rows read at each PROGRESS_EVERY."""
        last = 0
        for item in items:
            yield item
            if self.progress:
                # Each multiple a batch of thousands of rows passed, as if the rows had come one by one.
                for mark in range(last - last % PROGRESS_EVERY + PROGRESS_EVERY, read() + 1, PROGRESS_EVERY):
                    self.progress(mark)
                last = read()
        if self.progress:
            self.progress(read())


class SubscriptionImport(ImportResource):
    """Opt-ins (R4): a consent older than the number's opt-out is refused, and named with that reason."""

    kind = ImportKind.SUBSCRIPTIONS
    header = "phone,sender_code,list,opted_in_at[,email,carrier]"

    def apply(self, stream: BinaryIO) -> Summary:
        errors = RowErrors()
        rows = SubscriptionRows(errors, create_lists=self.create_lists)
        outcome = apply_opt_in_columns(self.ticking(rows.opt_ins(stream), lambda: rows.count), source=Source.IMPORT)
        return Summary(
            rows=rows.count,
            created=outcome.created,
            updated=outcome.renewed + outcome.reopted,
            skipped=outcome.unchanged + outcome.duplicates,
            invalid=errors.count + outcome.refused,
            details=outcome.counts(),
            samples=sampled(errors.samples, outcome.refused_samples),
        )


class OptOutImport(ImportResource):
    """Operator opt-outs scoped to a sender code (R2), recorded as imported, reason `operator` unless given."""

    kind = ImportKind.OPT_OUTS
    header = "phone,sender_code,occurred_at[,reason]"

    def apply(self, stream: BinaryIO) -> Summary:
        errors = RowErrors()
        now = timezone.now()
        rows = OptOutRows(errors, now=now)
        ref_type, ref_id = ref_columns(self.user)
        fixed = {"action": Action.OPT_OUT.value, "until_at": None, "error_code": None, "carrier_id": None,
                 "ref_type_id": ref_type, "ref_id": ref_id}  # fmt: skip
        with SignalBatch(fixed=fixed) as batch:
            for signals in self.ticking(rows.signals(stream), lambda: rows.count):
                batch.load_columns(signals)
            batch.loaded()
            outcome = apply_staged_signals(batch, source=Source.IMPORT, now=now)
        return Summary(
            rows=rows.count,
            created=outcome.events,
            updated=outcome.opted_out,
            skipped=outcome.already_opted_out + outcome.stale + outcome.not_found,
            invalid=errors.count,
            details=outcome.counts(),
            samples=errors.samples,
        )


class IntakeImport(ImportResource):
    """Receipts and carrier notices go through their own intake: recorded once (R6), then applied."""

    intake: ClassVar[type[SignalIntake]]

    def apply(self, stream: BinaryIO) -> Summary:
        intake = self.intake(channel=Channel.CSV)
        return self.summary_of(intake.ingest_file(stream, progress=self.progress))

    @staticmethod
    def summary_of(result) -> Summary:
        """An intake's result as an import's counts (a notice file run by its own command records the same)."""
        return Summary(
            rows=result.rows,
            created=result.accepted + result.rejected,  # a rejected notice is recorded, never applied
            skipped=result.duplicates,
            invalid=result.invalid,
            details={**result.effects, "rejected": result.rejected},  # what each recorded row caused
            samples=result.errors.samples,
        )


class ReceiptImport(IntakeImport):
    kind = ImportKind.RECEIPTS
    header = "phone,sender_code,error_code,occurred_at[,carrier,message_id]"
    intake = ReceiptIntake


class NoticeImport(IntakeImport):
    kind = ImportKind.CARRIER_NOTICES
    header = "phone,carrier,event,occurred_at"
    intake = NoticeIntake


IMPORTS: dict[str, type[ImportResource]] = {r.kind: r for r in (SubscriptionImport, OptOutImport, ReceiptImport,
                                                                 NoticeImport)}  # fmt: skip


class ExportResource(resources.Resource):
    """Columns as the library's fields over ORM paths; rows streamed, never a Dataset of millions."""

    name: ClassVar[str]
    permission: ClassVar[str]  # raw numbers need contacts.export_numbers (R12)
    order: ClassVar[tuple[str, ...]] = ("id",)

    def queryset(self, sender_code: str | None = None) -> models.QuerySet:
        raise NotImplementedError

    def export(self, queryset: models.QuerySet | None = None) -> Export:
        """The rows as an export (contacts.exports): written by the database on PostgreSQL, formula-safe."""
        queryset = self.queryset() if queryset is None else queryset
        columns = [Column(f.column_name, f.attribute) for f in self.get_export_fields()]
        return Export(self.name, columns, queryset.order_by(*self.order), permission=self.permission)


RAW_NUMBERS = "contacts.export_numbers"


class ContactExport(ExportResource):
    name = "contacts"
    permission = RAW_NUMBERS
    phone = Field(attribute="phone", column_name="phone")
    email = Field(attribute="email", column_name="email")
    carrier = Field(attribute="carrier__name", column_name="carrier")
    created_at = Field(attribute="created_at", column_name="created_at")

    def queryset(self, sender_code=None):
        contacts = Contact.objects.all()
        if sender_code:
            contacts = contacts.filter(subscriptions__list__sender_code__code=sender_code).distinct()
        return contacts


class SubscriptionExport(ExportResource):
    """The subscriptions import's columns first, so an export reads back in; then the state."""

    name = "subscriptions"
    permission = RAW_NUMBERS
    phone = Field(attribute="contact__phone", column_name="phone")
    sender_code = Field(attribute="list__sender_code__code", column_name="sender_code")
    list = Field(attribute="list__name", column_name="list")
    opted_in_at = Field(attribute="opted_in_at", column_name="opted_in_at")
    email = Field(attribute="contact__email", column_name="email")
    carrier = Field(attribute="contact__carrier__name", column_name="carrier")
    status = Field(attribute="status", column_name="status")
    opt_in_source = Field(attribute="opt_in_source", column_name="opt_in_source")
    opted_out_at = Field(attribute="opted_out_at", column_name="opted_out_at")
    opt_out_reason = Field(attribute="opt_out_reason", column_name="opt_out_reason")
    reengagement = Field(attribute="reengagement", column_name="reengagement")  # invited/reconsented/declined

    def queryset(self, sender_code=None):
        subscriptions = Subscription.objects.all()
        return subscriptions.filter(list__sender_code__code=sender_code) if sender_code else subscriptions

    def export(self, queryset=None):
        queryset = self.queryset() if queryset is None else queryset
        return super().export(queryset.annotate(reengagement=reengagement_state()))


class OptOutEventExport(ExportResource):
    """The manual opt-outs import's columns first, so an export reads back in; then the record (R7)."""

    name = "opt_out_events"
    permission = RAW_NUMBERS
    phone = Field(attribute="contact__phone", column_name="phone")
    sender_code = Field(attribute="sender_code__code", column_name="sender_code")
    occurred_at = Field(attribute="occurred_at", column_name="occurred_at")
    reason = Field(attribute="reason", column_name="reason")
    source = Field(attribute="source", column_name="source")
    error_code = Field(attribute="error_code", column_name="error_code")
    recorded_at = Field(attribute="recorded_at", column_name="recorded_at")

    def queryset(self, sender_code=None):
        events = OptOutEvent.objects.all()
        return events.filter(sender_code__code=sender_code) if sender_code else events


class ReportSummaryExport(ExportResource, resources.ModelResource):
    """Deactivation reports' counts: no numbers in it, so viewing reports is enough."""

    name = "deactivation_reports"
    permission = "reports.view_deactivationreport"
    order = ("-created_at", "-id")

    class Meta:
        model = DeactivationReport
        fields = export_order = (
            "report_date", "origin", "key", "file_name", "status", *DeactivationReport().counts(), "started_at",
            "finished_at",
        )  # fmt: skip

    def queryset(self, sender_code=None):
        return DeactivationReport.objects.all()


EXPORTS: dict[str, type[ExportResource]] = {r.name: r for r in (ContactExport, SubscriptionExport, OptOutEventExport,
                                                                 ReportSummaryExport)}  # fmt: skip
