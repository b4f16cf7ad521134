"""A number's consent history in time order: the answer to "why was this number opted out?" (R7)."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import NoReverseMatch, reverse

from contacts.models import CarrierErrorCode, Contact, OptOutEvent, Subscription


class Step(models.IntegerChoices):
    """What happened; the value also orders entries that share a timestamp, cause before effect."""

    OPTED_IN = 1, "Opted in"
    SUSPENDED = 2, "Suspended"
    OPT_OUT_EVENT = 3, "Opt-out event"
    SUSPENSION_ENDED = 4, "Suspension ended"
    OPTED_OUT = 5, "Opted out"


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
    """Every opt-in, opt-out event, opt-out and suspension of `contact`, oldest first, in four queries."""
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
    entries.sort(key=lambda entry: (entry.at, entry.step))
    return entries
