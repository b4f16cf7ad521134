"""A number's consent history in time order: the answer to "why was this number opted out?" (R7)."""

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import NoReverseMatch, reverse

from contacts import ledger
from contacts.models import CarrierErrorCode, Contact, OptOutEvent, Subscription, start_of_day


class Step(models.IntegerChoices):
    """What happened; the value also orders entries that share a timestamp, cause before effect."""

    DEACTIVATION_KNOWN = 0, "Known deactivation (ledger)"  # R13: voids consents given on or before its day
    OPTED_IN = 1, "Opted in"
    RECEIPT = 2, "Delivery receipt"
    NOTICE = 3, "Carrier notice"
    SUSPENDED = 4, "Suspended"
    OPT_OUT_EVENT = 5, "Opt-out event"
    SUSPENSION_ENDED = 6, "Suspension ended"
    OPTED_OUT = 7, "Opted out"


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    step: Step
    scope: str  # the list, the sender code, or the carrier it concerns
    reason: str = ""
    source: str = ""
    error_code: int | None = None
    error_description: str = ""
    recorded_at: datetime | None = None
    until: datetime | None = None  # when a suspension is due to end (R5a)
    ref_label: str = ""
    ref_url: str = ""  # empty when the record has no admin page


def ref_link(ref_type: ContentType | None, ref_id: int | None) -> tuple[str, str]:
    """A label and admin URL for the record that carried a signal; no URL if it has no admin page."""
    if ref_type is None or ref_id is None:
        return "", ""
    label = f"{ref_type.name} #{ref_id}"
    try:
        url = reverse(f"admin:{ref_type.app_label}_{ref_type.model}_change", args=[ref_id])
    except NoReverseMatch:
        # The carrying model may not be registered in the admin (yet); the label still names it.
        url = ""
    return label, url


def number_history(contact: Contact) -> list[HistoryEntry]:
    """Every opt-in, receipt, notice, opt-out event, opt-out and suspension of `contact`, oldest first."""
    subscriptions = Subscription.objects.filter(contact=contact).select_related("list__sender_code")
    events = list(OptOutEvent.objects.filter(contact=contact).select_related("sender_code", "ref_type"))
    suspensions = contact.suspensions.select_related("carrier", "ref_type")
    codes = {event.error_code for event in events if event.error_code is not None}
    descriptions = dict(CarrierErrorCode.objects.filter(code__in=codes).values_list("code", "description"))

    entries: list[HistoryEntry] = []
    for sub in subscriptions:
        scope = str(sub.list)
        entries.append(HistoryEntry(sub.opted_in_at, Step.OPTED_IN, scope, source=sub.get_opt_in_source_display()))
        if sub.opted_out_at is not None:
            entries.append(HistoryEntry(sub.opted_out_at, Step.OPTED_OUT, scope, sub.get_opt_out_reason_display()))
    for event in events:
        ref_label, ref_url = ref_link(event.ref_type, event.ref_id)
        entries.append(
            HistoryEntry(
                event.occurred_at,
                Step.OPT_OUT_EVENT,
                str(event.sender_code),
                reason=event.get_reason_display(),
                source=event.get_source_display(),
                error_code=event.error_code,
                error_description=descriptions.get(event.error_code, ""),
                recorded_at=event.recorded_at,
                ref_label=ref_label,
                ref_url=ref_url,
            )
        )
    for suspension in suspensions:
        carrier = suspension.carrier.name if suspension.carrier else "Unknown carrier"
        ref_label, ref_url = ref_link(suspension.ref_type, suspension.ref_id)
        entries.append(
            HistoryEntry(
                suspension.started_at,
                Step.SUSPENDED,
                carrier,
                until=suspension.expires_at,
                source=suspension.get_source_display(),
                ref_label=ref_label,
                ref_url=ref_url,
            )
        )
        if suspension.ended_at is not None:
            entries.append(
                HistoryEntry(suspension.ended_at, Step.SUSPENSION_ENDED, carrier, suspension.get_end_reason_display())
            )
    entries += carrier_records(contact, descriptions)
    entries += ledger_entries(contact)
    entries.sort(key=lambda entry: (entry.at, entry.step))
    return entries


def ledger_entries(contact: Contact) -> list[HistoryEntry]:
    """The number's rows in the reassigned-number ledger, each with the report or notice that told us."""
    entries = []
    for row in ledger.rows_for(contact):
        ref_label, ref_url = ref_link(row.ref_type, row.ref_id)
        entries.append(
            HistoryEntry(
                start_of_day(row.deactivated_on),
                Step.DEACTIVATION_KNOWN,
                "Every sender code",
                reason="Consents on or before this day are void (R13)",
                source=row.ref_type.name if row.ref_type else "",
                ref_label=ref_label,
                ref_url=ref_url,
            )
        )
    return entries


# The records that carry carrier signals about a number; each shows once its model exists.
CARRIER_RECORDS = (("reports", "DeliveryReceipt", Step.RECEIPT), ("reports", "CarrierNotice", Step.NOTICE))
RECORD_TIME_FIELDS = ("occurred_at", "received_at", "created_at")
RECORDS_SHOWN = 500  # per kind: a number with more has a carrier problem the admin lists show better


def carrier_records(contact: Contact, descriptions: dict[int, str]) -> list[HistoryEntry]:
    """The number's delivery receipts and carrier notices, one query each, when those models are installed."""
    entries = []
    for app_label, model_name, step in CARRIER_RECORDS:
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue
        names = {f.name: f for f in model._meta.concrete_fields}
        by_contact = [f.name for f in names.values() if f.is_relation and f.related_model is Contact]
        when = next((name for name in RECORD_TIME_FIELDS if name in names), None)
        if when is None:
            continue
        if by_contact:
            lookup = {by_contact[0]: contact}
        elif "phone" in names:
            lookup = {"phone": contact.phone}
        else:
            continue
        related = [name for name in ("carrier", "sender_code") if name in names and names[name].is_relation]
        records = list(model.objects.filter(**lookup).select_related(*related).order_by(f"-{when}")[:RECORDS_SHOWN])
        codes = {getattr(record, "error_code", None) for record in records} - {None} - descriptions.keys()
        if codes:
            descriptions.update(CarrierErrorCode.objects.filter(code__in=codes).values_list("code", "description"))
        content_type = ContentType.objects.get_for_model(model)
        for record in records:
            error_code = getattr(record, "error_code", None)
            ref_label, ref_url = ref_link(content_type, record.pk)
            entries.append(
                HistoryEntry(
                    getattr(record, when),
                    step,
                    str(getattr(record, "sender_code", None) or getattr(record, "carrier", None) or ""),
                    reason=" · ".join(_displayed(record, "event", "outcome")),
                    source=" · ".join(_displayed(record, "source")),
                    error_code=error_code,
                    error_description=descriptions.get(error_code, "") if error_code is not None else "",
                    recorded_at=getattr(record, "received_at", None) or getattr(record, "created_at", None),
                    ref_label=ref_label,
                    ref_url=ref_url,
                )
            )
    return entries


def _displayed(record: models.Model, *names: str) -> list[str]:
    """The labels of whichever of these choice fields the record has."""
    return [getattr(record, f"get_{name}_display")() for name in names if hasattr(record, f"get_{name}_display")]
