"""Re-engagement by email: the queue of subscriptions to ask about, the export that invites them with signed
single-use links, and the owner's answer.

A "yes" is a new, explicit consent dated when it was given, applied by the one opt-in service (R4, and R13 there);
nothing here re-subscribes anyone without that POST. A question is about one opt-out: once that subscription is
opted in again or opted out anew, links about the old opt-out are used up.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import islice

from django.conf import settings
from django.core import signing
from django.db import models, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from contacts import phones
from contacts.consent import OptIn, apply_opt_ins
from contacts.models import Source, Subscription
from contacts.reengagement_models import REENGAGE_REASONS, Reengagement

log = logging.getLogger(__name__)

SALT = "contacts.reengagement.reconsent"
EXPORT_HEADER = ["email", "list", "sender_code", "reason", "opted_out_at", "masked_phone", "link"]
CHUNK = 5000


def queue(subscriptions: models.QuerySet | None = None) -> models.QuerySet:
    """Every subscription worth asking about: opted out as deactivated, disconnected or porting, with an email."""
    subscriptions = Subscription.objects.all() if subscriptions is None else subscriptions
    return subscriptions.opted_out().filter(opt_out_reason__in=REENGAGE_REASONS).exclude(contact__email="")


def not_asked() -> Exists:
    """No question yet about the subscription's current opt-out."""
    return ~Exists(_question_of())


def _question_of(subscription=OuterRef("pk"), opted_out_at=OuterRef("opted_out_at")) -> models.QuerySet:
    return Reengagement.objects.filter(subscription=subscription, opted_out_at=opted_out_at)


def state() -> Coalesce:
    """A subscription's re-engagement state: the answer about its current opt-out, or `reconsented` while the
    consent it gave by link stands; empty otherwise (never asked, or opted in or out anew since)."""
    current = Reengagement.objects.filter(subscription=OuterRef("pk")).filter(
        Q(opted_out_at=OuterRef("opted_out_at"))
        | Q(status=Reengagement.Status.RECONSENTED, answered_at=OuterRef("opted_in_at"))
    )
    return Coalesce(Subquery(current.order_by("-invited_at").values("status")[:1]), Value(""))


def filtered(
    subscriptions: models.QuerySet, *, sender_code: str = "", list_name: str = "", since: datetime | None = None
) -> models.QuerySet:
    """The export's filters: a sender code, a list name (on any sender code unless one is given), opted out since."""
    if sender_code:
        subscriptions = subscriptions.filter(list__sender_code__code=sender_code)
    if list_name:
        subscriptions = subscriptions.filter(list__name=list_name)
    if since:
        subscriptions = subscriptions.filter(opted_out_at__gte=since)
    return subscriptions


class NoBaseUrl(ValueError):
    """REENGAGE_BASE_URL is not set: a link would point nowhere."""


def base_url() -> str:
    if not settings.REENGAGE_BASE_URL:
        raise NoBaseUrl("REENGAGE_BASE_URL is not set: the links need the site's address, e.g. https://sms.example.com")
    return settings.REENGAGE_BASE_URL


@transaction.atomic
def invite(subscriptions: models.QuerySet, *, again: bool = False, now: datetime | None = None) -> datetime:
    """Mark the queue's subscriptions among `subscriptions` invited as of `now`, set-based, and return `now`, which
    names this batch for `invitations`. Ones already asked about are left out unless `again` (then the unanswered
    ones are invited afresh; answered ones never are)."""
    now = now or timezone.now()
    base_url()  # refuse before marking anything
    candidates = subscriptions.filter(pk__in=queue().values("pk")).filter(not_asked())
    rows = candidates.values_list("pk", "opted_out_at", "opt_out_reason").order_by().iterator(chunk_size=CHUNK)
    while batch := list(islice(rows, CHUNK)):
        # A concurrent export that asked first wins the unique constraint; this one skips those rows.
        Reengagement.objects.bulk_create(
            [Reengagement(subscription_id=pk, opted_out_at=out, reason=why, invited_at=now) for pk, out, why in batch],
            ignore_conflicts=True,
        )
    if again:
        Reengagement.objects.filter(
            status=Reengagement.Status.INVITED,
            subscription__in=subscriptions.filter(pk__in=queue().values("pk")).values("pk"),
            opted_out_at=models.F("subscription__opted_out_at"),
        ).update(invited_at=now)
    return now


@dataclass(frozen=True)
class Invitation:
    email: str
    list: str
    sender_code: str
    reason: str
    opted_out_at: datetime
    masked_phone: str
    link: str

    def row(self) -> tuple:
        return (self.email, self.list, self.sender_code, self.reason, self.opted_out_at.isoformat(),
                self.masked_phone, self.link)  # fmt: skip


def invitations(batch: datetime) -> Iterator[Invitation]:
    """The rows of the export that marked its subscriptions invited at `batch`, each with a fresh link."""
    base = base_url()
    records = (
        Reengagement.objects.filter(invited_at=batch)
        .order_by("subscription__list__sender_code__code", "subscription__list__name", "opted_out_at", "pk")
        .values_list(
            "pk",
            "subscription_id",
            "subscription__contact__email",
            "subscription__list__name",
            "subscription__list__sender_code__code",
            "reason",
            "opted_out_at",
            "subscription__contact__phone",
        )  # fmt: skip
        .iterator(chunk_size=CHUNK)
    )
    # Resolved once: reversing the URL per row cost as much as signing the token.
    head, tail = (base + reverse("reconsent", args=["TOKEN"])).split("TOKEN")
    for pk, subscription_id, email, list_name, code, reason, opted_out_at, phone in records:
        link = head + token_for(pk, subscription_id, batch) + tail
        yield Invitation(email, list_name, code, reason, opted_out_at, phones.masked_display(phone), link)


# --- Links ---


def token_for(question_id: int, subscription_id: int, issued: datetime) -> str:
    """A signed, timestamped token naming the question, its subscription and the export that issued it (so each
    export's link is new); it expires, it is not secret."""
    payload = {"q": question_id, "s": subscription_id, "e": int(issued.timestamp() * 1_000_000)}
    return signing.TimestampSigner(salt=SALT).sign_object(payload)


class LinkProblem(StrEnum):
    TAMPERED = "tampered"  # not a link we made
    EXPIRED = "expired"  # older than REENGAGE_MAX_AGE_DAYS
    USED = "used"  # answered already, or the subscription changed since: the question no longer stands
    REFUSED = "refused"  # the opt-in service refused the consent (R13); nothing changed, the link stays usable


class LinkError(Exception):
    def __init__(self, problem: LinkProblem):
        super().__init__(problem.value)
        self.problem = problem


def question_for(token: str, *, now: datetime | None = None) -> Reengagement:
    """The open question a token names, with its subscription, list and sender code; LinkError otherwise."""
    now = now or timezone.now()
    signer = signing.TimestampSigner(salt=SALT)
    max_age = timedelta(days=settings.REENGAGE_MAX_AGE_DAYS)
    try:
        # The signer compares with time.time(); `now` moves its clock so tests need not wait.
        payload = signer.unsign_object(token, max_age=max_age - (now - timezone.now()))
        question_id, subscription_id = int(payload["q"]), int(payload["s"])
    except signing.SignatureExpired:
        raise LinkError(LinkProblem.EXPIRED) from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkError(LinkProblem.TAMPERED) from None
    question = (
        Reengagement.objects.select_related("subscription__contact", "subscription__list__sender_code")
        .filter(pk=question_id, subscription_id=subscription_id)
        .first()
    )
    if question is None or not is_open(question):
        raise LinkError(LinkProblem.USED)
    return question


def is_open(question: Reengagement) -> bool:
    subscription = question.subscription
    return (
        question.answered_at is None
        and subscription.status == Subscription.Status.OPTED_OUT
        and subscription.opted_out_at == question.opted_out_at
    )


class Answer(StrEnum):
    YES = "yes"
    NO = "no"


@transaction.atomic
def answer(token: str, reply: Answer, *, now: datetime | None = None) -> Reengagement:
    """Record the owner's answer once: yes opts this one subscription in again (source reengagement, dated now)
    through the opt-in service; no leaves it opted out. Either uses the link up; LinkError changes nothing."""
    now = now or timezone.now()
    question = question_for(token, now=now)
    status = Reengagement.Status.RECONSENTED if reply == Answer.YES else Reengagement.Status.DECLINED
    # Claim the question: of two answers at once, exactly one updates the row; the other finds it used.
    claimed = Reengagement.objects.filter(pk=question.pk, answered_at__isnull=True).update(
        status=status, answered_at=now
    )
    if not claimed:
        raise LinkError(LinkProblem.USED)
    subscription = question.subscription
    if reply == Answer.YES:
        outcome = apply_opt_ins(
            [OptIn(subscription.contact.phone, subscription.list_id, now)], source=Source.REENGAGEMENT, now=now
        )
        if outcome.reopted != 1:
            log.warning("reconsent refused question=%s subscription=%s", question.pk, subscription.pk)
            raise LinkError(LinkProblem.REFUSED)  # rolls the claim back too: the link stays as it was
    log.info("reconsent answered question=%s subscription=%s answer=%s", question.pk, subscription.pk, reply)
    question.status, question.answered_at = status, now
    return question


# --- Counts ---

STATUSES = [s.value for s in Reengagement.Status]


def counts(list_ids: list[int] | None = None) -> list[dict]:
    """Per list and reason: queued subscriptions not asked yet, and questions invited (no answer yet), re-consented
    and declined; two grouped queries, whatever the number of rows."""
    questions, waiting = Reengagement.objects.all(), queue().filter(not_asked())
    if list_ids is not None:
        questions = questions.filter(subscription__list_id__in=list_ids)
        waiting = waiting.filter(list_id__in=list_ids)
    table: dict[tuple[int, str], dict] = {}

    def row(found: dict, prefix: str, reason: str) -> dict:
        key = (found[f"{prefix}list_id"], found[reason])
        return table.setdefault(key, {"list_id": key[0], "list": found[f"{prefix}list__name"],
                                      "sender_code": found[f"{prefix}list__sender_code__code"], "reason": key[1],
                                      "waiting": 0, **dict.fromkeys(STATUSES, 0)})  # fmt: skip

    names = ["list_id", "list__name", "list__sender_code__code"]
    for found in waiting.values(*names, "opt_out_reason").annotate(n=Count("pk")).order_by():
        row(found, "", "opt_out_reason")["waiting"] = found["n"]
    by_status = {status: Count("pk", filter=Q(status=status)) for status in STATUSES}
    grouped = questions.values(*(f"subscription__{name}" for name in names), "reason").annotate(**by_status)
    for found in grouped.order_by():
        row(found, "subscription__", "reason").update({status: found[status] for status in STATUSES})
    return sorted(table.values(), key=lambda r: (r["sender_code"], r["list"], r["reason"]))
