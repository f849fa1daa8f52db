"""The worker's read of a closed pull request: people's 👍 and 👎 per finding, bots and Prism
left out, counts replaced on a second close, and failures kept where an operator sees them."""

from unittest import mock

import pytest
from celery.exceptions import Retry

from reviews.feedback import reactions, records
from reviews.github.resources import PullRequest, Reaction
from reviews.models import FeedbackRead, Finding
from reviews.tasks import read_feedback
from tests import stubs
from tests.fixtures import github_response

pytestmark = pytest.mark.django_db

PRISM = stubs.PRISM_LOGIN


def reactions_url(comment_id: int) -> str:
    return f"{stubs.API}/repos/{stubs.REPO}/pulls/comments/{comment_id}/reactions?per_page=100"


def reaction(content: str, login: str, kind: str = "User") -> dict:
    [example] = github_response("reactions.list-for-pull-request-review-comment.200.default.json")
    user = {**example["user"], "login": login, "type": kind}
    return {**example, "content": content, "user": user}


def closed_read(delivery_id: str = "closed-1") -> FeedbackRead:
    pull_request = PullRequest(
        repo_full_name=stubs.REPO, number=stubs.NUMBER, title="", html_url="", author="",
        head_sha="a" * 40, base_sha="b" * 40,
    )  # fmt: skip
    recorded = records.feedback_record_delivery(
        delivery_id=delivery_id, pull_request=pull_request, merged=True
    )
    return FeedbackRead.objects.get(id=recorded.read_id)


# --- counting -----------------------------------------------------------------------------------


def test_only_peoples_thumbs_are_counted():
    found = [
        Reaction("+1", "alice", "User"),
        Reaction("+1", "bob", "User"),
        Reaction("-1", "carol", "User"),
        Reaction("heart", "dave", "User"),
        Reaction("-1", "dependabot[bot]", "Bot"),
        Reaction("+1", "renovate[bot]", ""),  # no type sent, but a bot's login
        Reaction("+1", PRISM, "User"),  # Prism itself, acting through a token
        Reaction("-1", "", ""),  # a deleted account: a person who was
    ]
    assert reactions.count(found, prism_login=PRISM) == reactions.Counts(2, 2)


def test_prisms_own_login_is_matched_whatever_its_case():
    found = [Reaction("+1", PRISM.upper(), "User")]
    assert reactions.count(found, prism_login=PRISM) == reactions.Counts(0, 0)


# --- the read -----------------------------------------------------------------------------------


def test_each_inline_comment_is_read_and_its_counts_stored(github, make_finding):
    voted = make_finding(review_comment_id=101)
    disliked = make_finding(review_comment_id=102, state=Finding.State.DISMISSED)
    unposted = make_finding(review_comment_id=None)
    elsewhere = make_finding(review_comment_id=103, pr_number=8)
    read = closed_read()
    stubs.serve_identity(github)
    second_page = f"{reactions_url(101)}&page=2"
    github.get(
        reactions_url(101),
        json=[reaction("+1", f"user{n}") for n in range(100)],
        headers={"Link": f'<{second_page}>; rel="next"'},
    )
    github.get(second_page, json=[reaction("+1", PRISM), reaction("-1", "zed")])
    github.get(
        reactions_url(102),
        json=[reaction("-1", "alice"), reaction("-1", "bob"), reaction("+1", "ci", "Bot")],
    )
    assert records.feedback_claim(read_id=read.id)

    reactions.read(read.id)

    voted.refresh_from_db()
    disliked.refresh_from_db()
    assert (voted.thumbs_up, voted.thumbs_down) == (100, 1)
    assert (disliked.thumbs_up, disliked.thumbs_down) == (0, 2)
    assert voted.reactions_read_at is not None
    for untouched in (unposted, elsewhere):
        untouched.refresh_from_db()
        assert untouched.reactions_read_at is None
    read.refresh_from_db()
    assert (read.status, read.comments_read, read.comments_missing, read.error) == (
        "completed", 2, 0, "",
    )  # fmt: skip


def test_a_deleted_comment_is_recorded_and_the_others_are_read(github, make_finding):
    deleted = make_finding(review_comment_id=201, thumbs_up=3)
    kept = make_finding(review_comment_id=202)
    read = closed_read()
    stubs.serve_identity(github)
    github.get(reactions_url(201), json={"message": "Not Found"}, status=404)
    github.get(reactions_url(202), json=[reaction("-1", "alice")])
    records.feedback_claim(read_id=read.id)

    reactions.read(read.id)

    read.refresh_from_db()
    assert (read.status, read.comments_read, read.comments_missing) == ("completed", 1, 1)
    assert f"comment 201 (finding #{deleted.id}) deleted" in read.error
    assert "404" in read.error
    kept.refresh_from_db()
    deleted.refresh_from_db()
    assert kept.thumbs_down == 1
    assert deleted.thumbs_up == 3  # what an earlier close read stays


def test_a_second_close_replaces_the_counts_instead_of_adding(github, make_finding):
    finding = make_finding(review_comment_id=301)
    stubs.serve_identity(github)
    github.get(reactions_url(301), json=[reaction("-1", "alice"), reaction("-1", "bob")])
    github.get(reactions_url(301), json=[reaction("-1", "alice"), reaction("+1", "bob")])
    for delivery_id in ("closed-once", "closed-again"):  # reopened in between
        read = closed_read(delivery_id)
        records.feedback_claim(read_id=read.id)
        reactions.read(read.id)

    finding.refresh_from_db()
    assert (finding.thumbs_up, finding.thumbs_down) == (1, 1)


def test_a_pull_request_without_inline_comments_costs_no_call(github, make_finding):
    make_finding(review_comment_id=None)
    read = closed_read()
    records.feedback_claim(read_id=read.id)

    reactions.read(read.id)  # `github` fails the test on any request

    read.refresh_from_db()
    assert (read.status, read.comments_read) == ("completed", 0)


# --- the task -----------------------------------------------------------------------------------


def test_the_task_reads_once_however_often_it_is_delivered(github, make_finding):
    finding = make_finding(review_comment_id=401)
    read = closed_read()
    stubs.serve_identity(github)
    github.get(reactions_url(401), json=[reaction("+1", "alice")])

    read_feedback.apply(args=(read.id,))
    read_feedback.apply(args=(read.id,))  # a redelivered message: nothing left to claim

    read.refresh_from_db()
    finding.refresh_from_db()
    assert (read.status, read.attempts, finding.thumbs_up) == ("completed", 1, 1)
    assert len([c for c in github.calls if "/reactions" in c.request.url]) == 1


def test_github_down_keeps_what_was_read_and_retries_the_rest(github, make_finding, monkeypatch):
    # No backoff between the transport's own retries (its jitter drawn as 0 s).
    monkeypatch.setattr("reviews.github.transport.random.uniform", lambda a, b: 0.0)
    first = make_finding(review_comment_id=501)
    second = make_finding(review_comment_id=502)
    read = closed_read()
    stubs.serve_identity(github)
    github.get(reactions_url(501), json=[reaction("+1", "alice")])
    for _ in range(4):  # the transport's own retries, then it gives up for now
        github.get(reactions_url(502), body="<html>Bad Gateway</html>", status=502)

    with (
        mock.patch("reviews.tasks.read_feedback.retry", side_effect=Retry()) as retry,
        pytest.raises(Retry),
    ):
        read_feedback.apply(args=(read.id,), throw=True)

    retry.assert_called_once()
    read.refresh_from_db()
    assert read.status == "queued"
    assert read.error.startswith("Will retry: GitHub GET")
    assert "502" in read.error
    assert read.retry_at is not None
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.thumbs_up == 1  # not lost
    assert second.reactions_read_at is None


def test_a_permanent_failure_is_recorded_on_the_row(github, make_finding, settings):
    make_finding(review_comment_id=601)
    read = closed_read()
    github.get(f"{stubs.API}/user", json={"message": "Bad credentials"}, status=401)

    read_feedback.apply(args=(read.id,))

    read.refresh_from_db()
    assert read.status == "failed"
    assert "GitHub GET /user returned 401: Bad credentials" in read.error
    assert settings.GITHUB_TOKEN not in read.error


def test_a_read_whose_workers_keep_dying_fails_after_the_last_attempt(make_finding, settings):
    read = closed_read()
    FeedbackRead.objects.filter(id=read.id).update(
        status="running",
        attempts=settings.REVIEW_MAX_ATTEMPTS,
        lease_expires_at="2000-01-01T00:00:00Z",
    )

    read_feedback.apply(args=(read.id,))

    read.refresh_from_db()
    assert read.status == "failed"
    assert "Interrupted" in read.error


def test_the_sweep_finds_a_read_a_dead_worker_left(settings):
    read = closed_read()
    FeedbackRead.objects.filter(id=read.id).update(
        status="running", attempts=1, lease_expires_at="2000-01-01T00:00:00Z", dispatched_at=None
    )
    assert records.feedback_reads_needing_dispatch() == [read.id]
    assert records.feedback_claim(read_id=read.id)
    read.refresh_from_db()
    assert (read.status, read.attempts) == ("running", 2)
