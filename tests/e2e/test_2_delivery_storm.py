"""Scenario 2: a storm of deliveries, duplicated and concurrent, reviewed exactly once each."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.helpers import needle, pull_request_event, sha
from tests.e2e.processes import wait_until
from tests.fixtures import diff_text

pytestmark = pytest.mark.e2e

COPIES = 50
PULLS = 20
PUSHES = 10  # per pull request: 200 distinct deliveries
DIFFS = ["01-plain-modification", "02-new-file", "05-rename-with-change", "12-multiple-hunks"]


def test_fifty_copies_of_one_delivery_make_one_analysis_and_one_comment(stack):
    repo, number = "e2e-storm/copies", 1
    head = sha("copies")
    stack.github.open_pull(repo, number, head_sha=head, diff=_diff(0), title=needle(repo, number))
    body = pull_request_event("opened", repo, number, head, needle(repo, number))
    delivery_id = str(uuid.uuid4())
    start = threading.Barrier(COPIES)

    def send(_: int) -> int:
        start.wait(timeout=30)  # all at once, not one after another
        return stack.deliver(body, delivery_id=delivery_id).status_code

    with ThreadPoolExecutor(COPIES) as pool:
        codes = list(pool.map(send, range(COPIES)))

    assert sorted(codes) == [200] * (COPIES - 1) + [202]
    [row] = stack.wait_for_reviews(repo, 1)
    assert row["status"] == "completed", row["error"]
    assert row["feedback"]["findings"]
    assert len(stack.github.comment_posts(repo, number)) == 1


def test_two_hundred_deliveries_for_twenty_pull_requests_post_one_comment_each(stack):
    repos = [f"e2e-storm/pr{n:02d}" for n in range(PULLS)]
    for index, repo in enumerate(repos):
        stack.github.open_pull(
            repo, 1, head_sha=sha(f"{repo}@0"), diff=_diff(index), title=needle(repo, 1)
        )

    def push_all(index: int) -> list[int]:
        # One pull request's pushes arrive in order; the pull requests race each other.
        repo, codes = repos[index], []
        with requests.Session() as session:
            for push in range(PUSHES):
                head = sha(f"{repo}@{push}")
                stack.github.push(repo, 1, head_sha=head, diff=_diff(index + push))
                action = "opened" if push == 0 else "synchronize"
                body = pull_request_event(action, repo, 1, head, needle(repo, 1))
                codes.append(stack.deliver(body, session=session).status_code)
        return codes

    with ThreadPoolExecutor(PULLS) as pool:
        codes = [code for codes in pool.map(push_all, range(PULLS)) for code in codes]
    assert codes == [202] * PULLS * PUSHES

    for repo in repos:
        # The newest head's review is the one that must be published; older ones may finish
        # (and be edited over) or be superseded, but none may fail or post a second comment.
        rows = stack.wait_for_reviews(repo, PUSHES, timeout=150)
        statuses = [r["status"] for r in rows]
        assert len(rows) == PUSHES
        assert set(statuses) <= {"completed", "superseded"}, [r["error"] for r in rows]
        last = rows[-1]
        assert last["head_sha"] == sha(f"{repo}@{PUSHES - 1}") and last["status"] == "completed"

        def final_status_posted(repo: str = repo) -> bool:
            return "success" in stack.github.statuses(repo, sha(f"{repo}@{PUSHES - 1}"))

        wait_until(
            final_status_posted,
            timeout=30,
            what=f"the final status of {repo}",
        )
        assert len(stack.github.comment_posts(repo, 1)) == 1, repo
        [comment] = stack.github.issue_comments(repo, 1)
        assert last["head_sha"] in comment["body"]
        # The newest head's comment shows a finding: raised by its review, or carried forward
        # when its commits net to no change since the last review read (nothing new to read).
        assert "Unchecked value" in comment["body"], repo


def _diff(index: int) -> str:
    return diff_text(DIFFS[index % len(DIFFS)])
