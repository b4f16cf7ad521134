"""The back office: every contacts page renders, finds any number format, explains opt-outs (R7, R11, R12)."""

from datetime import timedelta

import pytest

from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.history import Step
from contacts.models import (
    Carrier,
    CarrierErrorCode,
    Contact,
    OptOutEvent,
    Reason,
    SenderCode,
    Source,
    SubscriberList,
    Subscription,
    Suspension,
    SuspensionEnd,
)
from contacts.services import Action, Signal, apply_signals, opt_out, reactivate, suspend
from tests.factories import at

MODELS = [
    Carrier,
    CarrierErrorCode,
    SenderCode,
    SubscriberList,
    Contact,
    Subscription,
    OptOutEvent,
    Suspension,
]
BIG_TABLES = [Contact, Subscription, OptOutEvent, Suspension, SubscriberList, SenderCode]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:contacts_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def verizon(db):
    return Carrier.objects.get(name="Verizon")


@pytest.fixture
def stopped(subscription_factory, contact_factory, verizon):
    """A Verizon number that was opted in, paused and reactivated, then texted STOP (603)."""
    sub = subscription_factory(contact=contact_factory(carrier=verizon), opted_in_at=at("2026-01-01"))
    phone, code = sub.contact.phone, sub.list.sender_code
    suspend(number=phone, occurred_at=at("2026-02-01"), source=Source.CARRIER_NOTICE)
    reactivate(number=phone, occurred_at=at("2026-02-10"), source=Source.CARRIER_NOTICE)
    opt_out(
        number=phone, reason=Reason.STOP, source=Source.DELIVERY_RECEIPT, occurred_at=at("2026-03-01"),
        sender_code=code, error_code=603,
    )  # fmt: skip
    sub.refresh_from_db()
    return sub


def objects_of(model, sub: Subscription):
    return {
        Carrier: sub.contact.carrier,
        CarrierErrorCode: CarrierErrorCode.objects.get(code=603),
        SenderCode: sub.list.sender_code,
        SubscriberList: sub.list,
        Contact: sub.contact,
        Subscription: sub,
        OptOutEvent: OptOutEvent.objects.get(contact=sub.contact),
        Suspension: Suspension.objects.get(contact=sub.contact),
    }[model]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_contacts_page_renders_with_data(admin_client, stopped, model):
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "change", objects_of(model, stopped).pk)).status_code == 200


PHONES = ("+12025550143", "+12025550144")


@pytest.mark.parametrize("model", [Contact, Subscription, OptOutEvent, Suspension], ids=lambda m: m.__name__)
@pytest.mark.parametrize("term", ["(202) 555-0143", "2025550143", "+1 202-555-0143"])
def test_r11_number_search_in_any_format_finds_the_contact(admin_client, subscription_factory, verizon, model, term):
    wanted, other = (subscription_factory(contact__phone=p, contact__carrier=verizon) for p in PHONES)
    apply_signals(
        [Signal(s.contact.phone, at("2026-03-01"), action=Action.SUSPEND) for s in (wanted, other)]
        + [Signal(s.contact.phone, at("2026-03-02"), Reason.PORTING) for s in (wanted, other)],
        source=Source.CARRIER_NOTICE,
    )

    response = admin_client.post(url(model, "changelist"), {"q": term}, follow=True)  # as the search box posts

    found = list(response.context["cl"].result_list)
    assert len(found) == 1
    contact = found[0] if model is Contact else found[0].contact
    assert contact == wanted.contact


def test_search_that_is_not_a_number_matches_the_start_of_an_email(admin_client, contact_factory):
    wanted = contact_factory(email="ada@example.com")
    contact_factory(email="grace@example.com")
    response = admin_client.get(url(Contact, "changelist"), {"q": "ada@"})
    assert list(response.context["cl"].result_list) == [wanted]


def grow(subscription_factory, list_factory, verizon, rows: int) -> None:
    """`rows` more numbers, each subscribed, opted out on its sender code and suspended."""
    subs = [subscription_factory(list=list_factory(), contact__carrier=verizon) for _ in range(rows)]
    signals = [Signal(s.contact.phone, at("2026-03-01"), Reason.OPERATOR, s.list.sender_code) for s in subs]
    apply_signals(signals, source=Source.OPERATOR)
    apply_signals(
        [Signal(s.contact.phone, at("2026-03-01"), action=Action.SUSPEND) for s in subs],
        source=Source.CARRIER_NOTICE,
    )


@pytest.mark.parametrize("model", BIG_TABLES, ids=lambda m: m.__name__)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client, subscription_factory, list_factory, verizon, django_assert_max_num_queries, model
):
    grow(subscription_factory, list_factory, verizon, 1)
    with CaptureQueriesContext(connection) as one_row:
        assert admin_client.get(url(model, "changelist")).status_code == 200

    grow(subscription_factory, list_factory, verizon, 29)
    with django_assert_max_num_queries(len(one_row)):
        response = admin_client.get(url(model, "changelist"))
    assert len(response.context["cl"].result_list) == 30


def test_r7_contact_page_tells_the_numbers_story_in_time_order(admin_client, stopped):
    response = admin_client.get(url(Contact, "change", stopped.contact.pk))

    history = response.context["history"]
    assert [(entry.at, entry.step) for entry in history] == [
        (at("2026-01-01"), Step.OPTED_IN),
        (at("2026-02-01"), Step.SUSPENDED),
        (at("2026-02-10"), Step.SUSPENSION_ENDED),
        (at("2026-03-01"), Step.OPT_OUT_EVENT),
        (at("2026-03-01"), Step.OPTED_OUT),
    ]
    event = history[3]
    assert (event.reason, event.source, event.error_code) == ("STOP", "Delivery receipt", 603)
    assert event.error_description == "Content blocked by user opt-out (contact has responded STOP)"
    assert history[2].reason == SuspensionEnd.REACTIVATED.label
    page = response.content.decode()
    assert page.index("Suspension ended") < page.index("Opt-out event") < page.index("603 Content blocked")


def test_r7_opt_out_events_are_read_only(admin_client, stopped):
    event = OptOutEvent.objects.get()
    change = url(OptOutEvent, "change", event.pk)

    assert admin_client.get(url(OptOutEvent, "add")).status_code == 403
    assert admin_client.get(url(OptOutEvent, "delete", event.pk)).status_code == 403
    page = admin_client.get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.post(change, {"reason": Reason.OPERATOR}).status_code == 403
    event.refresh_from_db()
    assert event.reason == Reason.STOP


def run_opt_out_action(client, subs):
    return client.post(
        url(Subscription, "changelist"),
        {"action": "opt_out_selected", "_selected_action": [s.pk for s in subs]},
        follow=True,
    )


def test_operator_action_opts_out_the_selected_subscriptions(admin_client, subscription_factory, list_factory):
    chosen = [subscription_factory(), subscription_factory()]
    left_alone = subscription_factory(contact=chosen[0].contact, list=list_factory())  # another sender code

    response = run_opt_out_action(admin_client, chosen)

    assert "2 subscription(s) opted out, 2 opt-out event(s) recorded" in response.content.decode()
    assert set(Subscription.objects.opted_out()) == set(chosen)
    assert Subscription.objects.get(pk=left_alone.pk).is_opted_in
    events = OptOutEvent.objects.all()
    assert {(e.reason, e.source) for e in events} == {(Reason.OPERATOR, Source.OPERATOR)}
    assert {e.ref for e in events} == {User.objects.get(username="admin")}  # who did it (R7)


def test_r12_staff_without_change_permission_cannot_opt_out(client, subscription_factory):
    sub = subscription_factory()
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_subscription"))
    client.force_login(viewer)

    page = client.get(url(Subscription, "changelist"))
    assert page.status_code == 200
    assert b"opt_out_selected" not in page.content

    run_opt_out_action(client, [sub])
    sub.refresh_from_db()
    assert sub.is_opted_in
    assert not OptOutEvent.objects.exists()


def test_end_suspensions_action_reactivates_without_opting_in(
    admin_client, subscription_factory, contact_factory, verizon
):
    sub = subscription_factory(contact=contact_factory(carrier=verizon))
    suspend(number=sub.contact.phone, occurred_at=at("2026-11-01"), source=Source.CARRIER_NOTICE)
    suspension = Suspension.objects.get()

    response = admin_client.post(
        url(Suspension, "changelist"),
        {"action": "end_selected", "_selected_action": [suspension.pk]},
        follow=True,
    )

    assert "1 suspension(s) ended." in response.content.decode()
    suspension.refresh_from_db()
    assert suspension.end_reason == SuspensionEnd.REACTIVATED
    assert not suspension.is_active
    assert Subscription.objects.sendable().count() == 1


def test_r11_a_contact_added_by_hand_is_stored_in_e164(admin_client, db):
    response = admin_client.post(
        url(Contact, "add"),
        {
            "phone": "(202) 555-0143", "email": "", "carrier": "",
            "subscriptions-TOTAL_FORMS": 0, "subscriptions-INITIAL_FORMS": 0,
            "subscriptions-MIN_NUM_FORMS": 0, "subscriptions-MAX_NUM_FORMS": 0,
        },
    )  # fmt: skip
    assert response.status_code == 302
    assert Contact.objects.get().phone == "+12025550143"


def test_suspension_state_filter(admin_client, subscription_factory, contact_factory, verizon):
    for day in (1, 2):
        sub = subscription_factory(contact=contact_factory(carrier=verizon))
        suspend(
            number=sub.contact.phone,
            occurred_at=at("2026-11-01") + timedelta(days=day),
            source=Source.CARRIER_NOTICE,
        )
    reactivate(number=sub.contact.phone, occurred_at=at("2026-11-05"), source=Source.CARRIER_NOTICE)

    active = admin_client.get(url(Suspension, "changelist"), {"state": "active"}).context["cl"].result_list
    ended = admin_client.get(url(Suspension, "changelist"), {"state": "ended"}).context["cl"].result_list

    assert [s.is_active for s in active] == [True]
    assert [s.contact for s in ended] == [sub.contact]
