"""POST /api/reassigned-numbers/: the ledger's answers for a signed batch of up to 10,000 numbers (issue 17).

Signed and refused exactly as the signal intake API: through reports.views.signed_body (the one signing
scheme) and the same once-only claim of each signature. Nothing is written but that claim.
"""

import logging

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from reports import views
from reports.reassigned import answers

log = logging.getLogger(__name__)

KEY = "numbers"


def questions(items: list) -> list[tuple[object, object]]:
    """The (phone, consented_at) pairs; a body whose items are not objects with both keys is malformed."""
    pairs = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "phone" not in item or "consented_at" not in item:
            raise views.Refused(400, f'item {index} is not an object with "phone" and "consented_at"')
        pairs.append((item["phone"], item["consented_at"]))
    return pairs


@csrf_exempt  # a machine endpoint: the signature authenticates it, there is no browser session
@require_POST
def reassigned_numbers(request: HttpRequest) -> JsonResponse:
    """Answer yes / no / no_data / invalid per number, in the order sent: {"numbers": [{phone, consented_at}]}."""
    reader = views.BodyReader(request, views.MAX_BODY_BYTES)
    try:
        body, digest, timestamp = views.signed_body(request, reader)
        pairs = questions(views.batch_items(body, KEY))
        with transaction.atomic():
            views.refuse_replay(digest, timestamp)
            results = [
                {"phone": r.phone, "consented_at": r.consented_at, "answer": r.answer.value,
                 "deactivated_on": r.deactivated_on.isoformat() if r.deactivated_on else None}
                for r in answers(pairs)
            ]  # fmt: skip
    except views.Refused as refused:
        log.warning(
            "reassigned api refused status=%d bytes_read=%d reason=%r",
            refused.status,
            reader.bytes_read,
            refused.message,
        )
        return JsonResponse({"error": refused.message}, status=refused.status)
    return JsonResponse({"results": results})
