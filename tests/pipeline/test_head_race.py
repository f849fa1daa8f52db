"""A push that lands while a review reads its pull request: GitHub serves the diff at whatever
the head is when asked, so the review of one head can be handed the next head's changes.

The steps are driven in the order the e2e storm (tests/e2e/test_2_delivery_storm.py) once hit:
the review of H1 reads the pull request at H1, then H2 is pushed, then it reads the diff (H2's).
Stored as H1's review, those findings are on the wrong head; when a later head H3 has the same
tree as H1, GitHub rightly finds nothing new since H1, and the ledger, built from H2's changes,
outdates everything: the newest head's comment showed no finding at all.
"""

import json
import re

import pytest
import responses

from reviews.models import Analysis, Finding
from reviews.tasks import review_pull_request
from tests import stubs
from tests.factories import answer_finding
from tests.stubs import CHAT, PR_API, calls_to

pytestmark = pytest.mark.django_db

H1, H2, H3 = "1" * 40, "2" * 40, "3" * 40
X, Y = "01-plain-modification", "12-multiple-hunks"  # entirely different files
X_FINDING = ("src/flask/helpers.py", 550)
Y_FINDING = ("src/requests/auth.py", 148)


class PullRequest:
    """GitHub's pull request as the pipeline reads it; a push may be set to land just before
    the next diff read, between the review's read of the head and its read of the changes."""

    def __init__(self, http: responses.RequestsMock) -> None:
        self.head, self.diff = H1, stubs.diff_text(X)
        self.push_before_diff: tuple[str, str] | None = None
        http.add_callback(responses.GET, PR_API, callback=self.answer)

    def push(self, head: str, diff: str) -> None:
        self.head, self.diff = head, stubs.diff_text(diff)

    def answer(self, request):
        if request.headers.get("Accept") == stubs.DIFF_ACCEPT["Accept"]:
            if self.push_before_diff is not None:
                self.push(*self.push_before_diff)
                self.push_before_diff = None
            return 200, {}, self.diff
        pr = stubs.pull_request_json(repo=stubs.REPO, number=stubs.NUMBER, head_sha=self.head)
        return 200, {}, json.dumps(pr)


def model(request):
    """The model raises one finding on the file it was shown, as the e2e fake does."""
    prompt = "\n".join(m["content"] for m in json.loads(request.body)["messages"])
    path, line = X_FINDING if X_FINDING[0] in prompt else Y_FINDING
    return 200, {}, json.dumps(stubs.chat_completion([answer_finding(path, line)]))


@pytest.fixture
def github(http):
    pull = PullRequest(http)
    stubs.serve_publishing(http, head_sha=H1)
    for head in (H2, H3):
        http.post(stubs.status_api(head), status=201, json={})
    http.patch(
        f"{stubs.API}/repos/{stubs.REPO}/issues/comments/901", json=stubs.comment_json(901, "x")
    )
    http.add_callback(responses.POST, CHAT, callback=model)
    # H3's tree is H1's again: two commits ahead, and no file differs (GitHub's answer).
    http.get(
        f"{stubs.API}/repos/{stubs.REPO}/compare/{H1}...{H3}",
        json=stubs.comparison_json(status="ahead", commits=2, files=[]),
    )
    return pull


def test_a_review_whose_head_moves_while_it_reads_the_diff_is_superseded_unread(
    http, github, make_analysis
):
    first = make_analysis(repo_full_name=stubs.REPO, pr_number=stubs.NUMBER, head_sha=H1)
    github.push_before_diff = (H2, Y)

    review_pull_request.run(first.id)

    first.refresh_from_db()
    assert first.status == Analysis.Status.SUPERSEDED, first.error
    assert H2[:12] in first.error
    assert calls_to(http, "POST", CHAT) == []  # the model never read H2's changes as H1's
    assert not Finding.objects.exists()
    assert stubs.statuses_sent(http) == ["pending"]  # never a success for unread changes


def test_the_newest_head_shows_its_finding_after_a_push_raced_an_older_review(
    http, github, make_analysis
):
    def review(head: str, action: str) -> Analysis:
        analysis = make_analysis(
            repo_full_name=stubs.REPO, pr_number=stubs.NUMBER, head_sha=head, action=action
        )
        review_pull_request.run(analysis.id)
        analysis.refresh_from_db()
        return analysis

    github.push_before_diff = (H2, Y)  # lands after H1's review read the head
    first = review(H1, "opened")
    github.push(H3, X)  # before H2's review starts: it is superseded without reading
    second = review(H2, "synchronize")
    newest = review(H3, "synchronize")

    assert newest.status == Analysis.Status.COMPLETED, newest.error
    # Before the fix: H1 "completed" with H2's finding, H3 found nothing new since H1 and
    # outdated it, and nothing was left open.
    assert Finding.objects.filter(state=Finding.State.OUTDATED).count() == 0
    [row] = Finding.objects.filter(state=Finding.State.OPEN)
    assert (row.path, row.line, row.last_seen_sha) == (*X_FINDING, H3)
    assert not Finding.objects.filter(path=Y_FINDING[0]).exists()
    [posted] = calls_to(http, "POST", stubs.COMMENTS_API)
    body = stubs.sent_json(posted)["body"]
    assert H3 in body and "Off-by-one in the loop bound" in body
    assert re.search(r"\boutdated\b", body) is None
    assert (first.status, second.status) == (Analysis.Status.SUPERSEDED,) * 2
