"""GET /healthz: can this process reach its database and its broker? For load balancers and
container health checks, so it needs no authentication and reveals nothing else but which
mode Prism runs in."""

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from prism.celery import app
from reviews import clients

logger = logging.getLogger(__name__)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("health check: database unreachable", exc_info=True)
        return False


def broker_ok() -> bool:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        logger.warning("health check: broker unreachable", exc_info=True)
        return False


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_ok(), "broker": broker_ok()}
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "unavailable"}
    body.update({name: "ok" if ok else "unreachable" for name, ok in checks.items()})
    # Which GitHub identity reviews act as: "personal token", or "GitHub App N" (an App's
    # id is public: it is in every JWT and in the App's page).
    body["mode"] = clients.mode_description()
    return JsonResponse(body, status=200 if healthy else 503)
