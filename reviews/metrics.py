"""Prism's Prometheus metrics: their names, and one function per thing that happens.

The names are stable: the README's table, the Grafana dashboard (deploy/grafana/prism.json)
and any alert are built on them. Label values are bounded (statuses, outcomes, endpoint
groups, configured model names); never a repository, a pull request or a delivery id, each
of which would make a new time series. The queue's depth and age are not here: they are read
from the database when /metrics is scraped (reviews/metrics_endpoint.py).

No Django here, so the GitHub and model clients can record their calls. In multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, see reviews/metrics_files.py) every process writes its own files
and /metrics sums them.

Hooks for code to call: observe_delivery, observe_review_finished, observe_reviews_superseded,
observe_model_call, observe_model_cost, observe_github_request, observe_rate_limit_wait,
model_call_in_flight.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, values

from reviews import metrics_files

if getattr(values.ValueClass, "_multiprocess", False):
    # prometheus-client saw PROMETHEUS_MULTIPROC_DIR: name the files so that containers
    # sharing the folder never write into each other's (reviews/metrics_files.py).
    values.ValueClass = values.MultiProcessValue(process_identifier=metrics_files.identifier)
    # gunicorn's master and Celery make it at start; a manage.py command may come first.
    os.makedirs(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ".", exist_ok=True)

# Every metric has labels, so no value (and no file) exists before something is recorded.
DELIVERIES = Counter(
    "prism_webhook_deliveries",
    "Webhook deliveries answered, by event and outcome.",
    ["event", "outcome", "code"],
)
REVIEWS = Counter(
    "prism_reviews",
    "Reviews that reached a final status (completed, failed, skipped, superseded).",
    ["status"],
)
REVIEW_DURATION = Histogram(
    "prism_review_duration_seconds",
    "From a worker claiming a review to its final status.",
    ["status"],
    buckets=(1, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1800),
)
REVIEW_LATENCY = Histogram(
    "prism_review_latency_seconds",
    "From the delivery (or re-run) creating a review to its final status: what an author waits.",
    ["status"],
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
MODEL_CALLS = Counter(
    "prism_llm_requests",
    "Chat-completions requests, by model and outcome.",
    ["model", "outcome"],
)
MODEL_CALL_DURATION = Histogram(
    "prism_llm_request_duration_seconds",
    "Time of one chat-completions request, by model and outcome.",
    ["model", "outcome"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180, 300),
)
MODEL_TOKENS = Counter(
    "prism_llm_tokens",
    "Tokens the model's answers reported, by model and kind (prompt, completion).",
    ["model", "kind"],
)
MODEL_COST = Counter(
    "prism_llm_cost_dollars",
    "What the model calls cost, in US dollars, by model.",
    ["model"],
)
MODEL_IN_FLIGHT = Gauge(
    "prism_llm_requests_in_flight",
    "Chat-completions requests waiting for their answer now, by model.",
    ["model"],
    multiprocess_mode="livesum",
)
GITHUB_REQUESTS = Counter(
    "prism_github_requests",
    "GitHub API requests, by endpoint group, method and HTTP status ('error': no answer).",
    ["endpoint", "method", "status"],
)
GITHUB_DURATION = Histogram(
    "prism_github_request_duration_seconds",
    "Time of one GitHub API request, by endpoint group.",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20),
)
RATE_LIMIT_WAIT = Histogram(
    "prism_rate_limit_wait_seconds",
    "Waits imposed by rate limits or pacing, by identity kind (its count is the number of waits).",
    ["identity_kind"],
    buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600),
)

# Bounded label values: anything else is recorded as "other".
REVIEW_STATUSES = frozenset({"completed", "failed", "skipped", "superseded"})
# The events Prism acts on (a comment may be a command: reviews/commands); GitHub's others, and
# any made-up header, count as "other".
DELIVERY_EVENTS = frozenset(
    {"pull_request", "ping", "issue_comment", "pull_request_review_comment"}
)
DELIVERY_OUTCOMES = frozenset({"queued", "duplicate", "ignored", "pong", "refused"})
MODEL_OUTCOMES = frozenset(
    {"ok", "rate_limited", "server_error", "unreachable", "rejected", "format_rejected"}
    | {"bad_answer"}
)
IDENTITY_KINDS = frozenset({"token", "installation", "app", "llm"})
HTTP_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
OTHER = "other"
_MAX_MODEL_NAME = 100


def _bounded(value: str, allowed: frozenset[str]) -> str:
    return value if value in allowed else OTHER


def _model(name: str) -> str:
    # Model names come from the operator's settings (LLM_MODEL, LLM_ALLOWED_MODELS and the
    # fallbacks), never from a request: bounded by the configuration.
    return (name or "unknown")[:_MAX_MODEL_NAME]


def observe_delivery(*, event: str, outcome: str, code: int) -> None:
    """A webhook delivery answered. `event` is an unsigned header: only known names are kept."""
    DELIVERIES.labels(
        _bounded(event, DELIVERY_EVENTS), _bounded(outcome, DELIVERY_OUTCOMES), str(int(code))
    ).inc()


def observe_review_finished(
    *, status: str, run_seconds: float | None, wait_seconds: float | None
) -> None:
    """A review reached a final status: `run_seconds` since a worker claimed it (None if none
    did), `wait_seconds` since it was created."""
    status = _bounded(status, REVIEW_STATUSES)
    REVIEWS.labels(status).inc()
    if run_seconds is not None:
        REVIEW_DURATION.labels(status).observe(max(run_seconds, 0.0))
    if wait_seconds is not None:
        REVIEW_LATENCY.labels(status).observe(max(wait_seconds, 0.0))


def observe_reviews_superseded(count: int) -> None:
    """Reviews superseded in bulk by a newer head (no duration: they never finished a run)."""
    if count > 0:
        REVIEWS.labels("superseded").inc(count)


def observe_model_call(
    *, model: str, outcome: str, seconds: float, prompt_tokens: int = 0, completion_tokens: int = 0
) -> None:
    """One chat-completions request, answered or not; the tokens its answer reported."""
    model = _model(model)
    outcome = _bounded(outcome, MODEL_OUTCOMES)
    MODEL_CALLS.labels(model, outcome).inc()
    MODEL_CALL_DURATION.labels(model, outcome).observe(max(seconds, 0.0))
    if prompt_tokens > 0:
        MODEL_TOKENS.labels(model, "prompt").inc(prompt_tokens)
    if completion_tokens > 0:
        MODEL_TOKENS.labels(model, "completion").inc(completion_tokens)


def observe_model_cost(model: str, dollars: float) -> None:
    """What one answered model call cost, in US dollars. Call it once per call, where its cost
    becomes known (today: the provider's own `usage.cost`, in reviews/llm/client.py)."""
    if dollars > 0:
        MODEL_COST.labels(_model(model)).inc(dollars)


@contextmanager
def model_call_in_flight(model: str) -> Iterator[None]:
    """Counts a chat-completions request as in flight while the block runs."""
    gauge = MODEL_IN_FLIGHT.labels(_model(model))
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def observe_github_request(*, endpoint: str, method: str, status: str, seconds: float) -> None:
    """One GitHub API request (each retry is a request). `endpoint` from `github_endpoint`;
    `status` the HTTP status, or "error" when nothing answered."""
    GITHUB_REQUESTS.labels(endpoint, _bounded(method.upper(), HTTP_METHODS), status).inc()
    GITHUB_DURATION.labels(endpoint).observe(max(seconds, 0.0))


def observe_rate_limit_wait(identity_kind: str, seconds: float) -> None:
    """A wait imposed by a rate limit or by pacing, whether slept in place or handed to Celery
    as a countdown. `identity_kind`: "token" (GITHUB_TOKEN), "installation" or "app" (a GitHub
    App), "llm" (the model provider)."""
    RATE_LIMIT_WAIT.labels(_bounded(identity_kind, IDENTITY_KINDS)).observe(max(seconds, 0.0))


def observe_model_answer(model: str, outcome: str, seconds: float, usage: dict[str, Any]) -> None:
    """The metrics of one request: its outcome and time, the tokens and the cost its answer
    reported (the provider's own `usage.cost`, as OpenRouter sends it)."""
    observe_model_call(
        model=model,
        outcome=outcome,
        seconds=seconds,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
    )
    cost = usage.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        observe_model_cost(model, float(cost))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
