"""Posting at GitHub's rate limit (reviews/pipeline/deferred.py): a review whose posting meets
the token's limit stays completed, is posted later by the publish task, and nothing is
posted twice; no thread sleeps through the wait."""

from datetime import timedelta
from unittest import mock

import pytest
import responses
from django.utils import timezone

from reviews import clients, dispatch
from reviews.comments.render import MARKER
from reviews.models import Analysis
from reviews.tasks import publish_review, review_pull_request
from tests import stubs
from tests.factories import answer_finding
from tests.github.test_client import SECONDARY_LIMIT
from tests.stubs import (
    API,
    CHAT,
    COMMENTS_API,
    REVIEWS_API,
    calls_to,
    serve_publishing,
    serve_pull_request,
    statuses_sent,
)

pytestmark = pytest.mark.django_db

HELPERS = "src/flask/helpers.py"
EDIT_API = f"{API}/repos/{stubs.REPO}/issues/comments/901"


@pytest.fixture
def publish_queue():
    """The broker for publish tasks, stood in for: each deferred posting is a call."""
    with mock.patch("reviews.tasks.publish_review.apply_async") as apply_async:
        yield apply_async


def a_minute_later(analysis: Analysis) -> None:
    """The posting is due, and the token's windows have emptied meanwhile."""
    Analysis.objects.filter(id=analysis.id).update(
        publish_due_at=timezone.now() - timedelta(seconds=1)
    )
    clients.github_pacer.cache_clear()


@pytest.mark.parametrize(
    ("status", "body"),
    [(403, SECONDARY_LIMIT), (429, {"message": "Too many requests"})],
    ids=["403 secondary limit", "429 retry-after"],
)
def test_a_secondary_limit_while_posting_defers_the_posting_instead_of_failing(
    http, analysis, publish_queue, status, body
):
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    http.replace(
        responses.POST, COMMENTS_API, status=status, json=body, headers={"Retry-After": "300"}
    )
    http.post(CHAT, json=stubs.chat_completion([answer_finding(HELPERS, 550)]))

    review_pull_request.run(analysis.id)  # no Retry raised: the review is done

    analysis.refresh_from_db()
    assert analysis.status == "completed" and analysis.attempts == 1
    assert analysis.feedback["findings"]
    assert analysis.comment_error.startswith("Waiting for GitHub's rate limit")
    due_in = (analysis.publish_due_at - timezone.now()).total_seconds()
    assert 290 <= due_in <= 300 + 61
    [queued] = publish_queue.call_args_list
    assert queued.args == ((analysis.id,),)
    assert 300 <= queued.kwargs["countdown"] <= 360
    # Nothing more was sent once GitHub said to stop: no inline review, no final status.
    assert not calls_to(http, "POST", REVIEWS_API)
    assert statuses_sent(http) == ["pending"]

    a_minute_later(analysis)
    http.replace(responses.POST, COMMENTS_API, status=201, json=stubs.comment_json(901, MARKER))
    publish_review.run(analysis.id)

    analysis.refresh_from_db()
    assert analysis.comment_error == "" and analysis.publish_due_at is None
    assert analysis.comment_url.endswith("#issuecomment-901")
    assert len(calls_to(http, "POST", COMMENTS_API)) == 2  # the one refused, the one created
    assert len(calls_to(http, "POST", REVIEWS_API)) == 1
    assert statuses_sent(http) == ["pending", "success"]


def test_paced_writes_defer_the_rest_of_the_posting_and_nothing_is_posted_twice(
    http, analysis, publish_queue, settings
):
    # Room for the pending status and the summary comment; the inline review must wait.
    settings.GITHUB_WRITES_PER_MINUTE = 2
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    http.post(CHAT, json=stubs.chat_completion([answer_finding(HELPERS, 550)]))

    review_pull_request.run(analysis.id)

    analysis.refresh_from_db()
    assert analysis.status == "completed"
    assert "writes are paced" in analysis.comment_error
    assert len(calls_to(http, "POST", COMMENTS_API)) == 1
    assert not calls_to(http, "POST", REVIEWS_API)
    assert publish_queue.call_count == 1

    a_minute_later(analysis)
    publish_review.run(analysis.id)
    publish_review.run(analysis.id)  # a duplicate message (the sweep's): nothing is due

    analysis.refresh_from_db()
    assert analysis.comment_error == "" and analysis.publish_due_at is None
    # The summary comment already showed this review: no write spent on it again; the
    # inline review was posted once.
    assert len(calls_to(http, "POST", COMMENTS_API)) == 1
    assert not calls_to(http, "PATCH", EDIT_API)
    assert len(calls_to(http, "POST", REVIEWS_API)) == 1
    assert statuses_sent(http) == ["pending", "success"]


def test_a_posting_not_yet_due_is_left_alone(http, make_analysis):
    analysis = make_analysis(status="completed")
    later = timezone.now() + timedelta(seconds=120)
    Analysis.objects.filter(id=analysis.id).update(publish_due_at=later)

    publish_review.run(analysis.id)

    assert len(http.calls) == 0
    analysis.refresh_from_db()
    assert analysis.publish_due_at == later


def test_the_sweep_queues_a_posting_whose_message_was_lost(make_analysis, publish_queue, broker):
    overdue = make_analysis(status="completed")
    waiting = make_analysis(status="completed")
    done = make_analysis(status="completed")
    now = timezone.now()
    Analysis.objects.filter(id=overdue.id).update(publish_due_at=now - timedelta(minutes=5))
    Analysis.objects.filter(id=waiting.id).update(publish_due_at=now + timedelta(minutes=5))

    assert dispatch.sweep() == 1

    publish_queue.assert_called_once_with((overdue.id,), countdown=0)
    assert done.publish_due_at is None
    broker.assert_not_called()


def test_a_pending_status_under_pressure_is_skipped_not_waited_for(
    http, analysis, publish_queue, settings
):
    settings.GITHUB_WRITE_INTERVAL_SECONDS = 30  # every write but the first must wait 30 s
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    http.post(CHAT, json=stubs.chat_completion([]))
    # Another review of the token just wrote.
    clients.github_pacer().reserve(clients.github_client().identity, max_wait=0)

    review_pull_request.run(analysis.id)  # a slot 30 s away is never slept for (max 10 s)

    analysis.refresh_from_db()
    assert analysis.status == "completed"
    assert statuses_sent(http) == []  # neither the pending nor (yet) the final status
    assert publish_queue.call_count == 1
