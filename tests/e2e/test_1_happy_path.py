"""Scenario 1: a pull request is opened, then pushed to; Prism keeps one comment up to date."""

import pytest

from reviews.comments.sanitize import MARKER
from tests.e2e.helpers import sha
from tests.fixtures import diff_expected

pytestmark = pytest.mark.e2e

REPO, NUMBER = "e2e-happy/widgets", 1


def test_an_opened_then_pushed_pull_request_has_one_comment_edited_in_place(stack):
    first = stack.open_pull(REPO, NUMBER, diff="01-plain-modification")
    [opened] = stack.wait_for_reviews(REPO, 1)

    assert opened["status"] == "completed", opened["error"]
    [found] = opened["feedback"]["findings"]
    assert (found["path"], found["anchored"]) == ("src/flask/helpers.py", True)
    assert found["line"] in diff_expected("01-plain-modification")["files"][0]["added_lines"]
    [posted] = stack.github.comment_posts(REPO, NUMBER)
    assert posted.json()["body"].startswith(MARKER)
    assert stack.github.statuses(REPO, first) == ["pending", "success"]

    second = sha("e2e-happy second push")
    assert stack.push(REPO, NUMBER, diff="12-multiple-hunks", head=second).status_code == 202
    rows = stack.wait_for_reviews(REPO, 2)

    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert rows[1]["head_sha"] == second and rows[1]["feedback"]["findings"]
    # One comment for the pull request's lifetime: created once, then edited in place.
    assert len(stack.github.comment_posts(REPO, NUMBER)) == 1
    [edited] = stack.github.comment_patches(REPO)
    comment_id = rows[0]["comment_url"].rpartition("#issuecomment-")[2]
    assert edited.path.endswith(f"/{comment_id}")
    assert rows[1]["comment_url"] == rows[0]["comment_url"]
    [comment] = stack.github.issue_comments(REPO, NUMBER)
    assert comment["body"].startswith(MARKER) and second in comment["body"]
    assert stack.github.statuses(REPO, second) == ["pending", "success"]
    assert stack.github.statuses(REPO, first) == ["pending", "success"]
    # Each push's finding went inline once, on a line GitHub accepted.
    reviews = stack.github.calls("POST", rf"/repos/{REPO}/pulls/{NUMBER}/reviews")
    assert [r.status for r in reviews] == [200, 200]
