"""Scenario 3: the worker is killed with SIGKILL in the middle of reviews.

The review's lease runs out, the sweep hands it to a live worker, and it completes once,
with one comment, within REVIEW_LEASE_SECONDS + SWEEP_INTERVAL_SECONDS (plus slack).
"""

import time

import pytest

from tests.e2e.helpers import needle
from tests.e2e.processes import wait_until

pytestmark = pytest.mark.e2e

LEASE, SWEEP = 20, 5  # as the stack configures Prism
# A fresh worker process, the retried review itself and the polling: generous on 2 cores.
SLACK = 15


def start_slow_review(stack, repo):
    """Open a pull request whose first LLM call hangs, and return once the call is in flight."""
    plan = stack.llm.plan(needle(repo, 1), hold=LEASE)
    stack.open_pull(repo, 1, diff="02-new-file")
    wait_until(lambda: plan.held, timeout=30, what="the review to reach the LLM")


def assert_reviewed_once_after(stack, repo, killed_at):
    [row] = stack.wait_for_reviews(repo, 1, timeout=LEASE + SWEEP + SLACK + 30)
    elapsed = time.monotonic() - killed_at
    assert row["status"] == "completed", row["error"]
    assert row["attempts"] == 2  # the killed attempt and the one that finished
    assert elapsed <= LEASE + SWEEP + SLACK, f"took {elapsed:.0f}s after the kill"
    assert len(stack.github.comment_posts(repo, 1)) == 1
    assert stack.github.statuses(repo)[-1] == "success"


def test_a_worker_killed_with_several_reviews_in_flight_completes_each_once(stack):
    """The compose worker runs reviews on threads (prism/celery.py): one process holds every
    review in flight, and a kill takes them all at once. Each lease runs out, the sweep hands
    each review to the new worker, and each completes once, with one comment."""
    assert stack.prism.pool_pids() == [], "the compose worker forks children it can lose"
    repos = [f"e2e-kill/threads-{n}" for n in range(3)]
    plans = [stack.llm.plan(needle(repo, 1), hold=LEASE) for repo in repos]
    for repo in repos:
        stack.open_pull(repo, 1, diff="02-new-file")
    wait_until(lambda: all(p.held for p in plans), timeout=30, what="three reviews mid-call")

    stack.prism.worker.kill_group()
    killed_at = time.monotonic()
    stack.prism.restart_worker()

    for repo in repos:
        assert_reviewed_once_after(stack, repo, killed_at)


def test_a_review_whose_whole_worker_is_killed_completes_once_on_a_new_worker(stack):
    repo = "e2e-kill/worker"
    start_slow_review(stack, repo)

    stack.prism.worker.kill_group()
    killed_at = time.monotonic()
    stack.prism.restart_worker()

    assert_reviewed_once_after(stack, repo, killed_at)


def test_on_the_embedded_defaults_a_killed_worker_loses_no_review(embedded_stack):
    """`make run`'s defaults: a SQLite file, the filesystem broker, the Makefile's worker and
    beat commands. Its worker must have no child process whose death it would survive only
    in appearance: a SIGKILLed prefork child there left the worker receiving reviews and
    sweeps and never running one again (prism/celery.py). So the kill reaches the only
    process running the review, the worker; started again, as any supervisor would, it
    finishes the review once, and later deliveries are reviewed."""
    stack = embedded_stack
    assert stack.prism.pool_pids() == [], "the embedded worker forks children it can lose"
    repo = "e2e-kill/embedded"
    start_slow_review(stack, repo)

    stack.prism.worker.kill_group()
    killed_at = time.monotonic()
    stack.prism.restart_worker()

    assert_reviewed_once_after(stack, repo, killed_at)
    assert stack.prism.beat.alive()

    later = "e2e-kill/embedded-later"
    stack.open_pull(later, 2, diff="01-plain-modification")
    [row] = stack.wait_for_reviews(later, 1, timeout=30)
    assert row["status"] == "completed", row["error"]
    assert row["attempts"] == 1
    assert len(stack.github.comment_posts(later, 2)) == 1
