"""GET /metrics: Prism's metrics in Prometheus's text format, for a scraper holding METRICS_TOKEN.

With PROMETHEUS_MULTIPROC_DIR the answer sums the files of every gunicorn worker and Celery
process (reviews/metrics_files.py), so any web worker gives the whole picture; without it,
this process's own counts. The queue (depth, age of the oldest due review, reviews running)
is read from the database at each scrape, not counted: it is right after any restart.

Never cached, never authenticated by a query parameter (access logs keep URLs), and the
token is compared in constant time.
"""

import hmac
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from reviews import selectors

logger = logging.getLogger(__name__)


class QueueCollector(Collector):
    """The review queue as the database has it now."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "prism_queue_up", "1 if the queue could be read from the database at this scrape."
        )
        try:
            state = selectors.queue_state()
        except DatabaseError:
            logger.warning("metrics: the queue could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "prism_queue_depth",
            "Reviews queued for a worker (due now or waiting out a retry's countdown).",
            value=state.queued,
        )
        yield GaugeMetricFamily(
            "prism_queue_oldest_age_seconds",
            "How long the longest-waiting due review has been waiting (0: none is waiting).",
            value=state.oldest_due_seconds,
        )
        yield GaugeMetricFamily(
            "prism_reviews_running", "Reviews held by a worker now.", value=state.running
        )


def exposition() -> bytes:
    """The whole text of a scrape."""
    queue = CollectorRegistry()
    queue.register(QueueCollector())
    if not settings.PROMETHEUS_MULTIPROC_DIR:
        return generate_latest(REGISTRY) + generate_latest(queue)
    # A fresh registry per scrape, as prometheus-client's multiprocess mode requires.
    MultiProcessCollector(queue, path=settings.PROMETHEUS_MULTIPROC_DIR)
    return generate_latest(queue)


def _authorized(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        return HttpResponse(
            "Metrics are off: set METRICS_TOKEN, then scrape with "
            "'Authorization: Bearer <METRICS_TOKEN>'.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    if not _authorized(request):
        response = HttpResponse(
            "Send 'Authorization: Bearer <METRICS_TOKEN>'.\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="prism-metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
