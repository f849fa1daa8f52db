"""Scenario 6: the LLM fails; transient failures are retried, and an unusable model is a
failed review, never a clean one."""

import json

import pytest

from reviews.comments.sanitize import MARKER
from tests.e2e.fake_llm import FALLBACK_MODEL, NON_JSON, PRIMARY_MODEL
from tests.e2e.helpers import needle, sha
from tests.e2e.processes import wait_until

pytestmark = pytest.mark.e2e


def test_a_rate_limit_and_a_server_error_are_retried_until_the_review_completes(stack):
    repo = "e2e-llm/transient"
    stack.llm.plan(needle(repo, 1), failures=["429", "500"])
    stack.open_pull(repo, 1, diff="01-plain-modification")

    [row] = stack.wait_for_reviews(repo, 1)

    assert row["status"] == "completed", row["error"]
    assert row["feedback"]["findings"]
    assert len(stack.llm.calls_for(needle(repo, 1))) == 3
    assert len(stack.github.comment_posts(repo, 1)) == 1


def test_a_model_that_stays_overloaded_hands_the_review_to_the_fallback_model(stack):
    repo = "e2e-llm/fallback"
    stack.llm.plan(needle(repo, 1), down=(PRIMARY_MODEL,))
    stack.open_pull(repo, 1, diff="01-plain-modification")

    [row] = stack.wait_for_reviews(repo, 1)

    assert row["status"] == "completed", row["error"]
    assert row["feedback"]["chunks"] == [
        {"part": 1, "model": FALLBACK_MODEL, "fallback": True, "tried": [PRIMARY_MODEL]}
    ]
    asked = [json.loads(call.body)["model"] for call in stack.llm.calls_for(needle(repo, 1))]
    assert asked == [PRIMARY_MODEL] * 3 + [FALLBACK_MODEL]  # its retries, then the fallback
    [comment] = stack.github.issue_comments(repo, 1)
    assert f"Models `{FALLBACK_MODEL}` (1 chunk, fallback)" in comment["body"]
    assert "Unchecked value" in comment["body"]  # the fallback's finding


def test_an_answer_that_is_not_json_once_is_repaired_and_the_review_completes(stack):
    repo = "e2e-llm/repaired"
    stack.llm.plan(needle(repo, 1), failures=["nonjson"])
    stack.open_pull(repo, 1, diff="01-plain-modification")

    [row] = stack.wait_for_reviews(repo, 1)

    assert row["status"] == "completed", row["error"]
    assert row["feedback"]["findings"]
    _, repair = stack.llm.calls_for(needle(repo, 1))
    assert NON_JSON in repair.prompt()  # the model was shown its own answer and asked again
    assert len(stack.github.comment_posts(repo, 1)) == 1


def test_a_model_that_never_answers_json_fails_the_review_and_never_shows_it_clean(stack):
    repo = "e2e-llm/broken"
    first = stack.open_pull(repo, 1, diff="01-plain-modification")
    stack.wait_for_reviews(repo, 1)
    [comment] = stack.github.issue_comments(repo, 1)
    assert "Unchecked value" in comment["body"]  # the earlier review's finding

    stack.llm.plan(needle(repo, 1), always="nonjson")
    second = sha("e2e-llm/broken second push")
    stack.push(repo, 1, diff="12-multiple-hunks", head=second)
    rows = stack.wait_for_reviews(repo, 2)

    failed = rows[1]
    assert failed["status"] == "failed"
    assert "unusable after one repair attempt" in failed["error"]
    assert failed["raw_output"] == NON_JSON
    wait_until(
        lambda: stack.github.statuses(repo, second) == ["pending", "error"],
        timeout=30,
        what="the error status",
    )
    assert stack.github.statuses(repo, first) == ["pending", "success"]
    # The old findings are replaced by a failure notice, not left standing for the new
    # head, and nothing anywhere claims the pull request is clean.
    # The notice is edited in after the error status: wait for it rather than race it.
    wait_until(
        lambda: "could not be completed" in stack.github.issue_comments(repo, 1)[0]["body"],
        timeout=30,
        what="the failure notice",
    )
    assert len(stack.github.comment_posts(repo, 1)) == 1
    [comment] = stack.github.issue_comments(repo, 1)
    assert comment["body"].startswith(MARKER)
    assert "has not been reviewed" in comment["body"]
    for body in stack.github.sent_bodies(repo):
        assert "No issues found" not in body
