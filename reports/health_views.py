"""Health endpoints for load balancers and monitors: /healthz (public, no data) and /healthz/ingestion."""

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from reports import health

log = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process answers and the database does; 503 when the database does not. Nothing else."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        log.error("health check: database unreachable error=%s", type(exc).__name__)
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ingestion(request: HttpRequest) -> JsonResponse:
    """Per source: last success, last failure, age; held and interrupted counts. 503 when check_ingestion
    would exit 1. A staff session or `Authorization: Bearer <HEALTH_TOKEN>`."""
    if not (request.user.is_authenticated and request.user.is_staff) and not _bearer_ok(request):
        response = JsonResponse({"status": "unauthorized"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="healthz"'
        return response
    try:
        state = health.ingestion_health()
    except DatabaseError:
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse(state.as_dict(), status=200 if state.ok else 503)


def _bearer_ok(request: HttpRequest) -> bool:
    token = settings.HEALTH_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # An unset token never matches, not even an empty one.
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
