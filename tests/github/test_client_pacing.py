"""The transport under pacing (reviews/github/transport.py with reviews/github/pacing.py):
writes wait for their slot or are handed back with RateLimited before anything is sent;
GitHub's secondary limit pauses every write of the token; reads wait for a primary reset."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from reviews.github import graphql
from reviews.github.client import GitHubClient, RateLimited
from reviews.github.pacing import MINUTE, Limits, Pacer
from tests.github.test_client import SECONDARY_LIMIT
from tests.graphql_schema import assert_valid_graphql_request
from tests.openapi import assert_valid_request

API = "https://api.github.test"
TOKEN = "ghs_prismPacingToken0123456789abcdefXYZ"
REPO, NUMBER, SHA = "octocat/Hello-World", 1347, "6dcb09b5b57875f334f61aebed695e2e4193db5e"
COMMENTS = f"{API}/repos/{REPO}/issues/{NUMBER}/comments"
STATUSES = f"{API}/repos/{REPO}/statuses/{SHA}"
PULL = f"{API}/repos/{REPO}/pulls/{NUMBER}"
COMMENT = {
    "id": 1,
    "body": "hi",
    "html_url": f"https://github.com/{REPO}/pull/{NUMBER}#issuecomment-1",
    "user": {"login": "prism-bot"},
}


class Clock:
    """Time that passes only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        for call in mock.calls:
            if call.request.url == f"{API}/graphql":
                assert_valid_graphql_request(call.request)
            else:
                assert_valid_request(call.request)


@pytest.fixture
def make_client(clock: Clock) -> Callable[..., GitHubClient]:
    def make(pacer: Pacer, token: str = TOKEN) -> GitHubClient:
        return GitHubClient(
            base_url=API, token=token, sleep=clock.sleep, clock=clock, pacer=pacer, max_wait=10
        )

    return make


def pacer(clock: Clock, **limits: Any) -> Pacer:
    return Pacer(Limits(**limits), clock=clock)


def comment(client: GitHubClient) -> None:
    client.create_issue_comment(REPO, NUMBER, "hi")


def test_writes_over_the_minute_limit_are_handed_back_unsent(api, make_client, clock):
    api.post(COMMENTS, status=201, json=COMMENT)
    client = make_client(pacer(clock, per_minute=2, per_hour=500, interval=0))
    comment(client)
    comment(client)

    with pytest.raises(RateLimited) as raised:
        comment(client)

    assert len(api.calls) == 2  # the third never reached GitHub
    assert raised.value.retry_after == pytest.approx(MINUTE)
    assert not raised.value.permanent
    assert "[token]" not in str(raised.value) and TOKEN not in str(raised.value)


def test_a_write_whose_slot_is_near_waits_for_it(api, make_client, clock):
    api.post(COMMENTS, status=201, json=COMMENT)
    client = make_client(pacer(clock, interval=2.5))
    comment(client)
    comment(client)
    assert clock.sleeps == [2.5]
    assert len(api.calls) == 2


def test_a_write_whose_slot_is_seconds_away_is_rescheduled_not_slept_for(api, make_client, clock):
    api.post(COMMENTS, status=201, json=COMMENT)
    client = make_client(pacer(clock, interval=5))
    comment(client)
    with pytest.raises(RateLimited) as raised:
        comment(client)
    assert raised.value.retry_after == pytest.approx(5)
    assert clock.sleeps == [] and len(api.calls) == 1


def test_two_clients_of_one_token_share_its_slots_and_other_tokens_do_not(api, make_client, clock):
    api.post(COMMENTS, status=201, json=COMMENT)
    shared = pacer(clock, per_minute=1, per_hour=500, interval=0)
    comment(make_client(shared))
    with pytest.raises(RateLimited):
        comment(make_client(shared))
    comment(make_client(shared, token="ghs_anotherInstallation0123456789abcd"))
    assert len(api.calls) == 2


def test_reads_and_graphql_queries_are_not_paced_but_mutations_are(api, make_client, clock):
    api.get(PULL, json={}, status=404)
    api.post(f"{API}/graphql", json={"data": {"resolveReviewThread": {"thread": None}}})
    client = make_client(pacer(clock, per_minute=1, per_hour=500, interval=0))
    api.post(STATUSES, status=201, json={})
    client.create_commit_status(REPO, SHA, state="success", description="ok")
    for _ in range(3):
        with pytest.raises(Exception, match="404"):
            client.get_pull_request(REPO, NUMBER)
    with pytest.raises(RateLimited):
        client.resolve_review_thread("PRRT_1")
    assert graphql.is_mutation(graphql.RESOLVE_REVIEW_THREAD)
    assert not graphql.is_mutation(graphql.REVIEW_THREADS)


@pytest.mark.parametrize(
    ("status", "body"),
    [(403, SECONDARY_LIMIT), (429, {"message": "Too many requests"})],
    ids=["403 secondary limit", "429"],
)
def test_a_secondary_limit_pauses_every_write_of_the_token(api, make_client, clock, status, body):
    api.post(COMMENTS, status=status, json=body, headers={"Retry-After": "120"})
    shared = pacer(clock)
    with pytest.raises(RateLimited) as raised:
        comment(make_client(shared))
    assert raised.value.retry_after == 120 and raised.value.status == status

    # Another client of the token (another review, another process) does not even ask.
    other = make_client(shared)
    with pytest.raises(RateLimited) as held:
        other.create_commit_status(REPO, SHA, state="pending", description="…")
    assert held.value.retry_after == pytest.approx(120)
    assert len(api.calls) == 1

    clock.now += 120
    api.replace(responses.POST, COMMENTS, status=201, json=COMMENT)
    comment(other)
    assert len(api.calls) == 2


def test_a_secondary_limit_message_without_retry_after_pauses_for_a_minute(api, make_client, clock):
    api.post(COMMENTS, status=403, json=SECONDARY_LIMIT)
    api.post(COMMENTS, status=201, json=COMMENT)
    client = make_client(pacer(clock))
    with pytest.raises(RateLimited) as raised:
        comment(client)
    assert raised.value.retry_after == 60
    assert len(api.calls) == 1


def test_a_short_secondary_wait_is_slept_in_place_then_the_write_goes(api, make_client, clock):
    api.post(COMMENTS, status=403, json=SECONDARY_LIMIT, headers={"Retry-After": "3"})
    api.post(COMMENTS, status=201, json=COMMENT)
    comment(make_client(pacer(clock, interval=0.75)))
    assert clock.sleeps == [3.0]  # the pause, then the slot is free
    assert len(api.calls) == 2


def test_a_best_effort_status_is_not_waited_for(api, make_client, clock):
    api.post(STATUSES, status=201, json={})
    client = make_client(pacer(clock, interval=2.5))
    client.create_commit_status(REPO, SHA, state="pending", description="…", best_effort=True)
    with pytest.raises(RateLimited):
        client.create_commit_status(REPO, SHA, state="pending", description="…", best_effort=True)
    client.create_commit_status(REPO, SHA, state="success", description="ok")
    assert clock.sleeps == [2.5]
    assert len(api.calls) == 2


def test_a_best_effort_status_leaves_half_of_a_busy_minute_to_results(api, make_client, clock):
    api.post(STATUSES, status=201, json={})
    client = make_client(pacer(clock, per_minute=4, per_hour=500, interval=0))
    client.create_commit_status(REPO, SHA, state="pending", description="…", best_effort=True)
    client.create_commit_status(REPO, SHA, state="success", description="ok")
    with pytest.raises(RateLimited):  # 2 of 4 taken: the rest is kept for results
        client.create_commit_status(REPO, SHA, state="pending", description="…", best_effort=True)
    client.create_commit_status(REPO, SHA, state="success", description="ok")
    client.create_commit_status(REPO, SHA, state="success", description="ok")
    assert len(api.calls) == 4


def test_reads_wait_for_the_reset_when_the_primary_limit_runs_low(api, make_client, clock):
    def low(reset_in: float) -> dict[str, str]:
        return {"x-ratelimit-remaining": "12", "x-ratelimit-reset": str(int(clock.now + reset_in))}

    api.get(PULL, status=404, json={"message": "Not Found"}, headers=low(6))
    client = make_client(pacer(clock))
    for _ in range(2):
        with pytest.raises(Exception, match="404"):
            client.get_pull_request(REPO, NUMBER)
    assert clock.sleeps == [6.0]  # the second read waited for the reset

    api.replace(responses.GET, PULL, status=404, json={"message": "x"}, headers=low(900))
    with pytest.raises(Exception, match="404"):
        client.get_pull_request(REPO, NUMBER)
    with pytest.raises(RateLimited) as raised:  # too long to hold a thread: rescheduled
        client.get_pull_request(REPO, NUMBER)
    assert raised.value.retry_after == pytest.approx(900, abs=1)
    # Writes may still use the reserve: they finish reviews already done.
    api.post(COMMENTS, status=201, json=COMMENT)
    comment(client)
    assert len(api.calls) == 4
