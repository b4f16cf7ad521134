"""The public re-consent pages behind the emailed links: no login, CSRF-protected, rate-limited per client address.

They show only the masked number and log only ids (R12); the decisions are `contacts.reengagement`'s.
"""

import logging
import re
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from contacts import phones
from contacts.reengagement import Answer, LinkError, LinkProblem, answer, question_for

log = logging.getLogger(__name__)

WINDOWS = {"second": 1, "minute": 60, "hour": 3600}
RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")
STATUS = {LinkProblem.TAMPERED: 400, LinkProblem.EXPIRED: 410, LinkProblem.USED: 410, LinkProblem.REFUSED: 409}


def rate_limit() -> tuple[int, int]:
    """REENGAGE_RATE_LIMIT as (requests, window seconds), e.g. "30/minute" -> (30, 60)."""
    match = RATE.match(settings.REENGAGE_RATE_LIMIT)
    if not match:
        raise ImproperlyConfigured(
            f"REENGAGE_RATE_LIMIT must read like 30/minute (N/second, N/minute or N/hour), "
            f"not {settings.REENGAGE_RATE_LIMIT!r}"
        )
    return int(match[1]), WINDOWS[match[2]]


def within_rate_limit(request: HttpRequest) -> bool:
    """Count this request against its client address's window; False once the address is over the limit."""
    limit, window = rate_limit()
    key = f"reconsent-rate:{request.META.get('REMOTE_ADDR', '')}:{int(time.time() // window)}"
    try:
        cache.add(key, 0, timeout=window + 1)
        return cache.incr(key) <= limit
    except Exception as exc:  # noqa: BLE001 - any cache failure
        # Fail open: a cache outage must not lock owners out of answering; the links stay signed and single-use.
        log.warning("reconsent rate limit unavailable error=%s", type(exc).__name__)
        return True


def problem_page(request: HttpRequest, problem: LinkProblem) -> HttpResponse:
    return render(request, "reconsent/problem.html", {"problem": problem.value}, status=STATUS[problem])


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def reconsent(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the question; POST answer=yes|no: record it once."""
    if not within_rate_limit(request):
        return render(request, "reconsent/problem.html", {"problem": "busy"}, status=429)
    try:
        if request.method == "GET":
            question = question_for(token)
            subscription = question.subscription
            return render(
                request,
                "reconsent/question.html",
                {
                    "sender_code": subscription.list.sender_code,
                    "list": subscription.list,
                    "masked_phone": phones.masked_display(subscription.contact.phone),
                },
            )
        try:
            reply = Answer(request.POST.get("answer", ""))
        except ValueError:
            return render(request, "reconsent/problem.html", {"problem": "no_answer"}, status=400)
        question = answer(token, reply)
    except LinkError as exc:
        log.info("reconsent link refused problem=%s", exc.problem)
        return problem_page(request, exc.problem)
    return render(request, "reconsent/answered.html", {"answer": reply.value, "list": question.subscription.list})
