"""Delivery receipts: what a carrier error code does is data (the CarrierErrorCode table), read per batch.

An opt-out code opts the number out everywhere (R1) or on the receipt's sender code (R2) with the reason
the table records (603 records STOP); a suspend code starts a suspension (R5); any other code, or none,
is recorded and changes nothing. Editing the table in the admin changes what the next batch does.
"""

from contacts.models import CarrierErrorCode, SenderCode, Source
from contacts.phones import masked
from contacts.services import Action
from reports.intake import SignalIntake
from reports.models import DeliveryReceipt, Effect

MAX_CODE = 2**31 - 1
# A staged row is the one recorded only if it carries the recorded data: two items of a batch may share a
# provider id yet differ, and then only the one whose data was kept is accepted.
SAME_DATA = (
    "r.phone = b.phone AND r.sender_code_id = b.sender_code_id AND r.occurred_at = b.occurred_at"
    " AND COALESCE(r.error_code, -1) = COALESCE(b.error_code, -1)"
    " AND COALESCE(r.carrier_id, -1) = COALESCE(b.carrier_id, -1)"
)


class ReceiptIntake(SignalIntake):
    """Receipts from the API or a CSV file: phone,sender_code,error_code,occurred_at[,carrier,message_id]."""

    model = DeliveryReceipt
    kind = "receipt"
    source = Source.DELIVERY_RECEIPT
    staging = "receipt_batch"
    columns = {"sender_code_id": "int", "message_id": "text"}
    recorded = ["phone", "sender_code_id", "carrier_id", "error_code", "occurred_at", "message_id", "outcome"]
    replay_keys = [
        # Spelled as the partial unique index's condition is, so SQLite sees it may use it.
        f"NOT (b.message_id = '') AND NOT (r.message_id = '') AND r.message_id = b.message_id AND {SAME_DATA}",
        # Without a provider id, a receipt that repeats every field is the same receipt (R6).
        f"b.message_id = '' AND r.message_id = '' AND {SAME_DATA}",
    ]
    insert_order = "message_id, phone, sender_code_id, error_code, occurred_at, seq"
    effects = ("delivered", "recorded", "opted_out", "suspended", "stale", "unchanged", "not_found", "unsupported")
    FIELDS = ["phone", "sender_code", "error_code", "occurred_at", "carrier", "message_id"]
    REQUIRED = ["phone", "sender_code", "error_code", "occurred_at"]
    MESSAGE_ID_LENGTH = DeliveryReceipt._meta.get_field("message_id").max_length

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sender_codes = dict(SenderCode.objects.values_list("code", "id"))
        self.plans = {code.code: plan for code in CarrierErrorCode.objects.all() if (plan := self.plan(code))}

    @staticmethod
    def plan(code: CarrierErrorCode) -> tuple[Action, str | None, bool] | None:
        """The signal a code raises: (action, reason, scoped to the sender code); None records only."""
        match code.action:
            case CarrierErrorCode.Action.OPT_OUT_NUMBER:
                return Action.OPT_OUT, code.reason, False
            case CarrierErrorCode.Action.OPT_OUT_SENDER_CODE:
                return Action.OPT_OUT, code.reason, True
            case CarrierErrorCode.Action.SUSPEND:
                return Action.SUSPEND, None, False
        return None

    def stage(self, fields: dict[str, str]) -> dict:
        phone = self.numbers(fields["phone"])
        sender_code_id = self.sender_code(fields["sender_code"])
        error_code = self.error_code(fields["error_code"])
        occurred_at = self.timestamp(fields["occurred_at"])
        carrier_id = self.carrier(fields["carrier"]).pk if fields["carrier"] else None
        message_id = fields["message_id"]
        if len(message_id) > self.MESSAGE_ID_LENGTH:
            raise ValueError(f"message_id is longer than {self.MESSAGE_ID_LENGTH} characters")
        values = {
            "phone": phone, "sender_code_id": sender_code_id, "error_code": error_code, "occurred_at": occurred_at,
            "carrier_id": carrier_id, "message_id": message_id,
        }  # fmt: skip
        plan = self.plans.get(error_code) if error_code is not None else None
        if plan is None:
            values["outcome"] = (Effect.DELIVERED if error_code is None else Effect.RECORDED).value
            return values
        action, reason, sender_scoped = plan
        values.update(action=action.value, reason=reason, outcome=Effect.UNCHANGED.value)
        if sender_scoped:
            values["scope_id"] = sender_code_id
        if action == Action.SUSPEND:
            values["until_at"] = self.until(occurred_at)
        return values

    def sender_code(self, code: str) -> int:
        if not code:
            raise ValueError("sender_code is required")
        if code not in self.sender_codes:
            raise ValueError(f"unknown sender code {masked(code[:20])!r}")
        return self.sender_codes[code]

    @staticmethod
    def error_code(text: str) -> int | None:
        if not text:
            return None
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_CODE:
            raise ValueError(f"error_code is not a carrier code: {masked(text[:20])!r}")
        return int(text)
