"""Scenario 4: the broker (the suite's own Redis) is down while deliveries arrive.

Every delivery is still answered 2xx (the row is committed; GitHub would not redeliver),
and every review happens once Redis is back: the sweep dispatches what the broker never took.
"""

import time

import pytest

from tests.e2e.helpers import needle, pull_request_event, sha
from tests.fixtures import diff_text

pytestmark = pytest.mark.e2e

PULLS = 5


def test_deliveries_during_a_redis_outage_are_accepted_and_reviewed_after_it(stack):
    repos = [f"e2e-redis/pr{n}" for n in range(PULLS)]
    for repo in repos:
        stack.github.open_pull(
            repo,
            1,
            head_sha=sha(repo),
            diff=diff_text("01-plain-modification"),
            title=needle(repo, 1),
        )

    redis = stack.redis
    assert redis is not None
    redis.stop()
    try:
        answers = []
        for repo in repos:
            started = time.monotonic()
            response = stack.deliver(
                pull_request_event("opened", repo, 1, sha(repo), needle(repo, 1))
            )
            answers.append((response.status_code, time.monotonic() - started))
        for repo in repos:
            [row] = stack.analyses(repo)
            assert (row["status"], row["dispatched_at"]) == ("queued", None)
    finally:
        redis.start()

    assert [code for code, _ in answers] == [202] * PULLS
    # inside GitHub's 10 s (docs/github-facts.md W1)
    assert max(seconds for _, seconds in answers) < 10
    for repo in repos:
        [row] = stack.wait_for_reviews(repo, 1, timeout=90)
        assert row["status"] == "completed", row["error"]
        assert len(stack.github.comment_posts(repo, 1)) == 1
