"""Scenario 5: GitHub fails the way it does (5xx, rate limits, a 406 on big diffs); the
review still completes, inside the client's own retry budget (no Celery retry needed)."""

import pytest

from tests.e2e.helpers import needle
from tests.fixtures import diff_expected

pytestmark = pytest.mark.e2e

SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


def test_bad_gateways_rate_limits_and_a_diff_too_large_still_end_in_one_review(stack):
    repo = "e2e-github/release"
    pull = rf"/repos/{repo}/pulls/1"
    github = stack.github
    github.fail("GET", pull, 502, times=2)
    github.fail("GET", pull, 429, headers={"Retry-After": "1"}, accept="diff")
    github.fail(
        "POST", rf"/repos/{repo}/statuses/\w+", 403, message=SECONDARY, headers={"Retry-After": "1"}
    )
    github.fail("GET", rf"{pull}/files", 502)
    github.fail("POST", rf"/repos/{repo}/issues/1/comments", 502)
    # 220 files and 35,641 lines: GitHub refuses the diff (docs/github-facts.md R2) and Prism
    # pages the files.
    stack.open_pull(repo, 1, diff="24-very-large-release-range")

    [row] = stack.wait_for_reviews(repo, 1, timeout=120)

    assert row["status"] == "completed", row["error"]
    assert row["attempts"] == 1 and row["comment_error"] == ""
    assert (
        row["feedback"]["coverage"]["files_total"]
        == diff_expected("24-very-large-release-range")["files_changed"]
    )
    assert not github.faults  # every planned failure was met
    assert [r.status for r in github.calls("GET", pull) if "diff" in r.headers["accept"]] == [
        429,
        406,
    ]
    pages = [r for r in github.calls("GET", rf"{pull}/files") if r.status == 200]
    assert [r.query.get("page", ["1"])[0] for r in pages] == ["1", "2", "3"]
    assert len([r for r in github.comment_posts(repo, 1) if r.status == 201]) == 1
    assert len(github.issue_comments(repo, 1)) == 1
    assert github.statuses(repo) == ["pending", "success"]


def test_a_planned_406_on_a_small_diff_falls_back_to_the_file_list(stack):
    repo = "e2e-github/small"
    stack.github.fail(
        "GET",
        rf"/repos/{repo}/pulls/1",
        406,
        accept="diff",
        message="Sorry, the diff exceeded the maximum number of files (300).",
    )
    stack.open_pull(repo, 1, diff="05-rename-with-change")

    [row] = stack.wait_for_reviews(repo, 1)

    assert row["status"] == "completed", row["error"]
    assert row["feedback"]["findings"][0]["anchored"]
    assert stack.github.calls("GET", rf"/repos/{repo}/pulls/1/files")
    assert len(stack.github.comment_posts(repo, 1)) == 1
    [call] = stack.llm.calls_for(needle(repo, 1))
    # Read from the file list, the rename is still a rename.
    assert "FILE requests/sessions.py (renamed from requests/session.py)" in call.prompt()
