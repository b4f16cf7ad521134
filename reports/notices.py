"""Carrier notices: deactivated, disconnected and porting opt the number out everywhere (R1) with that
reason; suspended starts a suspension (R5) when the carrier suspends at all, and is rejected otherwise;
reactivated ends an active suspension and never opts anyone back in (R4)."""

from contacts.models import Reason, Source
from contacts.phones import masked
from contacts.services import Action
from contacts.staging import fetch_int
from reports.intake import SignalIntake
from reports.models import CarrierNotice, Effect

Event = CarrierNotice.Event

SIGNALS: dict[str, tuple[Action, Reason | None]] = {
    Event.DEACTIVATED: (Action.OPT_OUT, Reason.DEACTIVATED),
    Event.DISCONNECTED: (Action.OPT_OUT, Reason.DISCONNECTED),
    Event.PORTING: (Action.OPT_OUT, Reason.PORTING),
    Event.SUSPENDED: (Action.SUSPEND, None),
    Event.REACTIVATED: (Action.REACTIVATE, None),
}


class NoticeIntake(SignalIntake):
    """Notices from the API or a CSV file: phone,carrier,event,occurred_at (carrier by name or alias)."""

    model = CarrierNotice
    kind = "carrier notice"
    source = Source.CARRIER_NOTICE
    staging = "notice_batch"
    columns = {"event": "text", "status": "text", "rejection_reason": "text"}
    recorded = ["phone", "carrier_id", "event", "occurred_at", "status", "rejection_reason", "outcome"]
    replay_keys = [
        "r.phone = b.phone AND r.carrier_id = b.carrier_id AND r.event = b.event AND r.occurred_at = b.occurred_at"
    ]
    insert_order = "phone, carrier_id, event, occurred_at, seq"
    effects = ("opted_out", "suspended", "reactivated", "stale", "unchanged", "not_found")
    rejection_sql = "b.rejection_reason"
    can_reject = True
    feeds_ledger = True
    FIELDS = ["phone", "carrier", "event", "occurred_at"]
    REQUIRED = FIELDS

    def stage(self, fields: dict[str, str]) -> dict:
        phone = self.numbers(fields["phone"])
        if not fields["carrier"]:
            raise ValueError("carrier is required")
        carrier = self.carrier(fields["carrier"])
        event = fields["event"].lower()
        if event not in SIGNALS:
            raise ValueError(
                f"unknown event {masked(fields['event'][:20])!r} (expected one of {', '.join(Event.values)})"
            )
        occurred_at = self.timestamp(fields["occurred_at"])
        values = {"phone": phone, "carrier_id": carrier.pk, "event": event, "occurred_at": occurred_at}
        if event == Event.SUSPENDED and not carrier.supports_suspension:
            # Recorded, so a replay is a duplicate, but never applied: the carrier does not pause lines (R5).
            reason = f"{carrier.name} does not support temporary suspension"
            return {**values, "status": CarrierNotice.Status.REJECTED.value, "rejection_reason": reason,
                    "outcome": Effect.UNSUPPORTED.value}  # fmt: skip
        action, reason = SIGNALS[event]
        values.update(status=CarrierNotice.Status.APPLIED.value, rejection_reason="", action=action.value,
                      reason=reason.value if reason else None, outcome=Effect.UNCHANGED.value)  # fmt: skip
        if action == Action.SUSPEND:
            values["until_at"] = self.until(occurred_at)
        return values

    def rejected_count(self) -> int:
        return fetch_int(
            f"SELECT COUNT(*) FROM {self.staging} WHERE record_id IS NOT NULL AND status = %s",
            [CarrierNotice.Status.REJECTED],
        )
