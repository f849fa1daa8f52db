"""Budgets in a review through the worker's task, in personal-token mode: what a review
actually cost (every attempt, priced from LLM_PRICES when the provider reports no cost), and
the global cap refusing a review before its first model call, retries counted."""

import html
from decimal import Decimal
from unittest import mock

import pytest
import responses
from celery.exceptions import Retry

from reviews.llm import throttle
from reviews.models import Analysis
from reviews.tasks import review_pull_request
from tests import stubs
from tests.stubs import CHAT, COMMENTS_API, calls_to, serve_publishing, serve_pull_request

pytestmark = pytest.mark.django_db

# 1,200 prompt and 80 completion tokens a call (stubs.chat_completion) at these prices:
# 1200 x 2/M + 80 x 10/M = $0.0032 a call.
PRICES = {"openai/gpt-4o-mini": {"input": Decimal("2"), "output": Decimal("10")}}


@pytest.fixture(autouse=True)
def _prices(settings):
    settings.LLM_PRICES = PRICES
    settings.LLM_MAX_OUTPUT_TOKENS = 100  # the estimate: prompt tokens + 100 a call


def retried_once(http, analysis, settings) -> None:
    """A first attempt where one chunk answers and the other is rate limited."""
    settings.LLM_MAX_PROMPT_TOKENS = 2000
    settings.LLM_MAX_CALLS = 2
    settings.LLM_CONCURRENCY = 1
    serve_pull_request(http, analysis.head_sha, diff="21-100plus-files")
    serve_publishing(http)
    http.post(CHAT, json=stubs.chat_completion([]))  # no cost reported
    # Longer than the client waits in place: a Celery retry at once.
    http.post(CHAT, status=429, headers={"Retry-After": "20"}, json={"error": {"message": "x"}})
    with (
        mock.patch.object(review_pull_request, "retry", side_effect=Retry()),
        pytest.raises(Retry),
    ):
        review_pull_request.run(analysis.id)
    analysis.refresh_from_db()
    assert analysis.status == "queued"
    Analysis.objects.filter(id=analysis.id).update(retry_at=None)
    throttle.reset()  # the retry comes once the rate limit's 20 s have passed


def test_every_attempts_calls_are_priced_and_added_up(http, analysis, settings):
    retried_once(http, analysis, settings)
    assert analysis.cost == Decimal("0.0032")

    http.replace(responses.POST, CHAT, json=stubs.chat_completion([]))
    review_pull_request.run(analysis.id)

    analysis.refresh_from_db()
    assert analysis.status == "completed", analysis.error
    assert analysis.cost == Decimal("0.0096")  # three answered calls
    assert analysis.cost_estimate is None  # no cap to answer to: nothing reserved


def test_what_the_first_attempt_spent_counts_when_the_retry_decides(http, analysis, settings):
    retried_once(http, analysis, settings)
    # Room for the retry's estimate alone, not on top of what the first attempt spent.
    attempt_one = analysis.cost
    settings.BUDGET_DAILY_USD = Decimal("0.0100")
    calls_before = len(calls_to(http, "POST", CHAT))

    review_pull_request.run(analysis.id)

    analysis.refresh_from_db()
    assert analysis.status == "skipped", analysis.error
    assert analysis.cost == attempt_one
    assert analysis.cost_estimate + attempt_one > Decimal("0.0100") > analysis.cost_estimate
    assert len(calls_to(http, "POST", CHAT)) == calls_before


def test_a_reached_global_cap_is_said_on_the_pull_request(http, analysis, settings):
    settings.BUDGET_DAILY_USD = Decimal("0.001")
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)

    review_pull_request.run(analysis.id)

    analysis.refresh_from_db()
    title = "Not reviewed: Prism reached its $0.001 daily budget (resets 00:00 UTC)"
    assert analysis.status == "skipped" and analysis.error.startswith(title)
    assert not calls_to(http, "POST", CHAT)
    assert stubs.statuses_sent(http) == ["pending", "error"]
    status = [c for c in http.calls if "/statuses/" in (c.request.url or "")][-1]
    assert stubs.sent_json(status)["description"].startswith("Not reviewed: Prism reached")
    [comment] = calls_to(http, "POST", COMMENTS_API)
    assert title in html.unescape(stubs.sent_json(comment)["body"])
    assert not [c for c in http.calls if "/check-runs" in (c.request.url or "")]
