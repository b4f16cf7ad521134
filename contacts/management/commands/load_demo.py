import random
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from contacts import phones
from contacts.consent import OptIn, apply_opt_ins
from contacts.models import (
    Carrier,
    CarrierErrorCode,
    Reason,
    SenderCode,
    Source,
    SubscriberList,
    Subscription,
)
from contacts.services import Action, Outcome, Signal, apply_signals

SEED = 20260101  # the same demo on every machine
SENDER_CODES = [
    ("45678", SenderCode.Kind.SHORT_CODE, "Acme Alerts", ["Flash Sales", "Order Updates", "Weekly Digest"]),
    ("+18885550100", SenderCode.Kind.TOLL_FREE, "Acme Care", ["Appointment Reminders", "Billing"]),
]
# 555-0100 to 555-0199 are reserved for fiction in every US area code: no real person gets a demo number.
AREA_CODES = [
    "202", "206", "212", "213", "214", "215", "303", "305", "312", "313", "314", "404", "412", "415", "503",
    "504", "512", "602", "612", "615", "617", "702", "704", "713", "720", "801", "804", "813", "816", "901",
]  # fmt: skip
CARRIER_WEIGHTS = {"Verizon": 30, "T-Mobile": 28, "AT&T": 28, "US Cellular": 4}  # others weigh 2
OPT_OUTS = {
    Reason.DEACTIVATED: 120,
    Reason.DISCONNECTED: 50,
    Reason.PORTING: 30,
    Reason.PERMANENT_FAILURE: 60,
    Reason.STOP: 70,
    Reason.OPERATOR: 25,
}
SOURCES = {
    Reason.DEACTIVATED: Source.DEACTIVATION_REPORT,
    Reason.DISCONNECTED: Source.CARRIER_NOTICE,
    Reason.PORTING: Source.CARRIER_NOTICE,
    Reason.PERMANENT_FAILURE: Source.DELIVERY_RECEIPT,
    Reason.STOP: Source.DELIVERY_RECEIPT,
    Reason.OPERATOR: Source.OPERATOR,
}
RECEIPT_REASONS = (Reason.PERMANENT_FAILURE, Reason.STOP)
SUSPENSIONS = 20
YEAR, OPT_OUT_WINDOW, SUSPENSION_WINDOW = timedelta(days=365), timedelta(days=90), timedelta(days=20)


class Command(BaseCommand):
    help = "Load the demo sender codes, lists, contacts, opt-outs and suspensions once; later runs do nothing."

    def handle(self, *args, **options):
        if SenderCode.objects.exists():
            self.stdout.write("Demo data already loaded")
            return
        with transaction.atomic():
            summary = Demo(random.Random(SEED), timezone.now().replace(microsecond=0)).load()
        self.stdout.write(self.style.SUCCESS("Demo data loaded: " + " ".join(f"{k}={v}" for k, v in summary.items())))


class Demo:
    """The demo's choices, drawn from one seeded generator, applied through the services in a few batches."""

    def __init__(self, rng: random.Random, now: datetime):
        self.rng = rng
        self.now = now
        self.latest_opt_in: dict[str, datetime] = {}
        self.codes_of: dict[str, list[SenderCode]] = {}

    def load(self) -> dict[str, int]:
        lists = self.create_lists()
        contacts = self.opt_in(lists)
        verizon = [n for n, carrier in contacts.items() if carrier is not None and carrier.supports_suspension]
        suspended = self.rng.sample(verizon, min(SUSPENSIONS, len(verizon)))
        # Suspended numbers stay opted in, so the dashboard shows them as subscribers but not sendable (R5).
        candidates = sorted(set(contacts) - set(suspended))
        out = self.opt_out(candidates) + self.suspend(suspended)
        return {
            "sender_codes": len(SENDER_CODES),
            "lists": sum(len(code_lists) for code_lists in lists.values()),
            "contacts": len(contacts),
            "subscriptions": Subscription.objects.count(),
            "opted_out": out.opted_out,
            "events": out.events,
            "suspended": out.suspended,
        }

    def create_lists(self) -> dict[SenderCode, list[SubscriberList]]:
        lists = {}
        for code, kind, name, list_names in SENDER_CODES:
            sender_code = SenderCode.objects.create(code=code, kind=kind, name=name)
            lists[sender_code] = SubscriberList.objects.bulk_create(
                SubscriberList(sender_code=sender_code, name=list_name) for list_name in list_names
            )
        return lists

    def opt_in(self, lists: dict[SenderCode, list[SubscriberList]]) -> dict[str, Carrier | None]:
        carriers = list(Carrier.objects.all())
        weights = [CARRIER_WEIGHTS.get(carrier.name, 2) for carrier in carriers]
        contacts: dict[str, Carrier | None] = {}
        opt_ins = []
        numbers = [phones.normalize(f"+1{area}555{line:04d}") for area in AREA_CODES for line in range(100, 200)]
        for i, number in enumerate(numbers):
            carrier = self.rng.choices(carriers, weights)[0] if carriers else None
            email = f"customer{i:04d}@example.com" if self.rng.random() < 0.5 else ""
            contacts[number] = carrier
            # Everyone is on at least one list; about a third are on both sender codes.
            sender_codes = self.rng.sample(list(lists), 2 if self.rng.random() < 0.35 else 1)
            self.codes_of[number] = sender_codes
            for code in sender_codes:
                for subscriber_list in self.rng.sample(lists[code], self.rng.randint(1, len(lists[code]))):
                    opted_in_at = self.now - YEAR * self.rng.random()
                    self.latest_opt_in[number] = max(opted_in_at, self.latest_opt_in.get(number, opted_in_at))
                    opt_ins.append(
                        OptIn(number, subscriber_list.pk, opted_in_at, email, carrier.pk if carrier else None)
                    )
        apply_opt_ins(opt_ins, source=Source.IMPORT, now=self.now)
        return contacts

    def when(self, number: str, window: timedelta) -> datetime:
        """A moment in the last `window`, after the number's latest consent so no signal is stale (R3)."""
        start = max(self.now - window, self.latest_opt_in[number])
        return (start + (self.now - start) * self.rng.random()).replace(microsecond=0)

    def opt_out(self, candidates: list[str]) -> Outcome:
        codes = CarrierErrorCode.objects.filter(
            action__in=[CarrierErrorCode.Action.OPT_OUT_NUMBER, CarrierErrorCode.Action.OPT_OUT_SENDER_CODE]
        )
        # Receipts carry a code from the seeded table; other signals carry none.
        codes_for = {reason: [c for c in codes if c.reason == reason] for reason in RECEIPT_REASONS}
        numbers = iter(self.rng.sample(candidates, sum(OPT_OUTS.values())))
        batches: dict[Source, list[Signal]] = {}
        for reason, count in OPT_OUTS.items():
            for number in [next(numbers) for _ in range(count)]:
                signal = self.opt_out_signal(number, reason, codes_for.get(reason, []))
                batches.setdefault(SOURCES[reason], []).append(signal)
        out = Outcome()
        for source, signals in batches.items():
            out += apply_signals(signals, source=source, now=self.now)
        return out

    def opt_out_signal(self, number: str, reason: Reason, codes: list[CarrierErrorCode]) -> Signal:
        occurred_at = self.when(number, OPT_OUT_WINDOW)
        own_code = self.rng.choice(self.codes_of[number])
        if codes:
            # The code table decides the scope, as it does for real receipts (R1, R2).
            code = self.rng.choice(codes)
            by_code = code.action == CarrierErrorCode.Action.OPT_OUT_SENDER_CODE
            return Signal(number, occurred_at, reason, own_code if by_code else None, error_code=code.code)
        # Carrier signals reach the number everywhere (R1); STOP and operators act on one sender code (R2).
        by_code = reason in (Reason.STOP, Reason.OPERATOR)
        return Signal(number, occurred_at, reason, own_code if by_code else None)

    def suspend(self, numbers: list[str]) -> Outcome:
        signals = [Signal(n, self.when(n, SUSPENSION_WINDOW), action=Action.SUSPEND) for n in numbers]
        return apply_signals(signals, source=Source.CARRIER_NOTICE, now=self.now)
