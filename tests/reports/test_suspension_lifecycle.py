"""R5 end to end: a receipt or notice suspends a line for 30 days; the hourly task, the command or a
reactivation ends it; a deactivation during it opts out; suspended contacts count but are not sendable."""

import io
import json
from datetime import timedelta

import pytest

from django.core.management import call_command
from django.utils import timezone

from contacts.models import Carrier, Subscription, Suspension, SuspensionEnd
from contacts.services import list_counts
from contacts.tasks import expire_suspensions
from reports.models import Channel
from reports.notices import NoticeIntake
from reports.receipts import ReceiptIntake
from tests.factories import ContactFactory, SubscriptionFactory, at

pytestmark = pytest.mark.django_db


def suspend_by_notice(sub: Subscription, occurred_at: str) -> None:
    item = {"phone": sub.contact.phone, "carrier": "Verizon", "event": "suspended", "occurred_at": occurred_at}
    assert NoticeIntake(channel=Channel.API).ingest_items([item]).accepted == 1


@pytest.fixture
def verizon_sub():
    return SubscriptionFactory(contact=ContactFactory(carrier=Carrier.objects.get(name="Verizon")))


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_r5a_the_command_expires_at_day_30_exactly_and_not_at_day_29(verizon_sub):
    suspend_by_notice(verizon_sub, "2026-11-01T00:00:00Z")
    assert "suspensions_expired=0" in run("expire_suspensions", "--now", "2026-11-30T00:00:00Z")  # day 29
    assert "suspensions_expired=0" in run("expire_suspensions", "--now", "2026-11-30T23:59:59Z")
    assert Suspension.objects.active().count() == 1
    assert "suspensions_expired=1" in run("expire_suspensions", "--now", "2026-12-01T00:00:00Z")  # day 30
    suspension = Suspension.objects.get()
    assert (suspension.ended_at, suspension.end_reason) == (at("2026-12-01"), SuspensionEnd.EXPIRED)
    assert Subscription.objects.sendable().count() == 1


def test_r5a_the_task_expires_at_day_30_and_not_at_day_29(verizon_sub):
    day_29 = SubscriptionFactory(contact=ContactFactory(carrier=Carrier.objects.get(name="Verizon")))
    now = timezone.now()
    suspend_by_notice(verizon_sub, (now - timedelta(days=30)).isoformat())
    suspend_by_notice(day_29, (now - timedelta(days=29)).isoformat())
    assert expire_suspensions.delay().get() == 1
    assert list(Suspension.objects.active().values_list("contact", flat=True)) == [day_29.contact_id]
    assert Suspension.objects.get(contact=verizon_sub.contact).end_reason == SuspensionEnd.EXPIRED


def test_r5_a_suspended_contact_counts_as_a_subscriber_but_is_never_sendable(verizon_sub, tmp_path):
    SubscriptionFactory(list=verizon_sub.list)
    suspend_by_notice(verizon_sub, "2026-11-01")
    [counts] = list_counts()
    assert (counts.subscribers, counts.sendable, counts.suspended, counts.opted_out) == (2, 1, 1, 0)
    stats = json.loads(run("list_stats"))
    assert (stats["subscribers"], stats["sendable"], stats["suspended"]) == (2, 1, 1)
    sendable = run(
        "export_sendable", "--sender-code", verizon_sub.list.sender_code.code, "--list", verizon_sub.list.name
    )
    assert verizon_sub.contact.phone not in sendable.split()


def test_r5_a_569_receipt_suspends_and_a_later_deactivation_ends_it_and_opts_out(verizon_sub):
    receipt = {"phone": verizon_sub.contact.phone, "sender_code": verizon_sub.list.sender_code.code,
               "error_code": 569, "occurred_at": "2026-11-01T12:00:00Z"}  # fmt: skip
    ReceiptIntake(channel=Channel.API).ingest_items([receipt])
    assert Suspension.objects.active().count() == 1
    notice = {
        "phone": verizon_sub.contact.phone,
        "carrier": "Verizon",
        "event": "deactivated",
        "occurred_at": "2026-11-06",
    }
    NoticeIntake(channel=Channel.API).ingest_items([notice])
    suspension = Suspension.objects.get()
    assert (suspension.ended_at, suspension.end_reason) == (at("2026-11-06"), SuspensionEnd.DEACTIVATED)
    verizon_sub.refresh_from_db()
    assert (verizon_sub.is_opted_in, verizon_sub.opt_out_reason) == (False, "deactivated")


def test_r4_a_reactivated_line_is_sendable_again_but_an_opted_out_one_stays_out(verizon_sub):
    stopped = SubscriptionFactory(contact=verizon_sub.contact, status=Subscription.Status.OPTED_OUT)
    suspend_by_notice(verizon_sub, "2026-11-01")
    notice = {
        "phone": verizon_sub.contact.phone,
        "carrier": "Verizon",
        "event": "reactivated",
        "occurred_at": "2026-11-09",
    }
    NoticeIntake(channel=Channel.API).ingest_items([notice])
    assert Suspension.objects.get().end_reason == SuspensionEnd.REACTIVATED
    assert list(Subscription.objects.sendable()) == [verizon_sub]
    stopped.refresh_from_db()
    assert not stopped.is_opted_in


def test_r5a_a_suspension_after_an_expired_one_starts_a_new_30_days(verizon_sub):
    suspend_by_notice(verizon_sub, "2026-10-01")
    run("expire_suspensions", "--now", "2026-11-15")
    suspend_by_notice(verizon_sub, "2026-11-20")
    active = Suspension.objects.active().get()
    assert (active.started_at, active.expires_at) == (at("2026-11-20"), at("2026-12-20"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the worker sees committed rows only
def test_a_real_celery_worker_expires_suspensions_end_to_end(celery_worker, verizon_sub):
    suspend_by_notice(verizon_sub, (timezone.now() - timedelta(days=31)).isoformat())
    assert expire_suspensions.delay().get(timeout=60) == 1
    suspension = Suspension.objects.get()
    assert suspension.end_reason == SuspensionEnd.EXPIRED
    assert suspension.ended_at == suspension.expires_at
