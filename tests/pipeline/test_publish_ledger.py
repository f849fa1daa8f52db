"""Inline comments come from the findings ledger: a finding is posted once per pull request,
whatever the number of pushes, and its comment id is read back onto its row."""

import json

import pytest
import responses

from reviews.models import Finding
from reviews.tasks import review_pull_request
from tests import stubs
from tests.factories import answer_finding
from tests.stubs import CHAT, PR_API, REVIEW_COMMENTS_API, REVIEWS_API, calls_to

pytestmark = pytest.mark.django_db

HELPERS = "src/flask/helpers.py"


class FakeReviewComments:
    """GitHub's review comments of the pull request: what Prism's reviews posted, listed back."""

    def __init__(self, http: responses.RequestsMock) -> None:
        self.comments: list[dict] = []
        http.remove(responses.POST, REVIEWS_API)
        http.add_callback(responses.POST, REVIEWS_API, callback=self.post)
        http.remove(responses.GET, REVIEW_COMMENTS_API)
        http.add_callback(responses.GET, REVIEW_COMMENTS_API, callback=self.list)

    def post(self, request):
        for comment in json.loads(request.body)["comments"]:
            comment_id = 1000 + len(self.comments)
            self.comments.append(
                {
                    "id": comment_id,
                    "path": comment["path"],
                    "line": comment["line"],
                    "side": "RIGHT",
                    "body": comment["body"],
                    "user": {"login": stubs.PRISM_LOGIN, "type": "User"},
                }
            )
        return 200, {}, json.dumps({"id": 55})

    def list(self, request):
        return 200, {}, json.dumps(self.comments)


def push(http, make_analysis, head: str, findings: list[dict]):
    http.replace(
        responses.GET,
        PR_API,
        json=stubs.pull_request_json(repo=stubs.REPO, number=stubs.NUMBER, head_sha=head),
        match=[responses.matchers.header_matcher(stubs.JSON_ACCEPT)],
    )
    http.post(stubs.status_api(head), status=201, json={})
    http.replace(responses.POST, CHAT, json=stubs.chat_completion(findings))
    analysis = make_analysis(repo_full_name=stubs.REPO, pr_number=stubs.NUMBER, head_sha=head)
    review_pull_request.run(analysis.id)
    analysis.refresh_from_db()
    assert analysis.status == "completed", analysis.error
    return analysis


def test_a_finding_is_posted_once_across_three_pushes(http, make_analysis):
    stubs.serve_pull_request(http)
    stubs.serve_publishing(http)
    http.patch(
        f"{stubs.API}/repos/{stubs.REPO}/issues/comments/901", json=stubs.comment_json(901, "x")
    )
    http.post(CHAT, json=stubs.chat_completion([]))
    github = FakeReviewComments(http)
    same = answer_finding(HELPERS, 550, severity="high", title="Unchecked path")

    first = push(http, make_analysis, "a" * 40, [same])
    row = Finding.objects.get()
    assert row.review_comment_id == 1000  # read back from GitHub after posting
    assert f"prism:finding:{row.fingerprint}" in github.comments[0]["body"]

    second = push(http, make_analysis, "c" * 40, [same])
    # The third push raises it again and one more: only the new one is posted.
    other = answer_finding(HELPERS, 551, severity="high", title="Another")
    third = push(http, make_analysis, "d" * 40, [same, other])

    posted = [stubs.sent_json(call)["comments"] for call in calls_to(http, "POST", REVIEWS_API)]
    assert [[c["line"] for c in review] for review in posted] == [[550], [551]]
    assert len(github.comments) == 2
    row.refresh_from_db()
    assert row.state == "open" and row.review_comment_id == 1000
    assert set(row.analyses.all()) == {first, second, third}
    assert Finding.objects.get(title="Another").review_comment_id == 1001


def test_a_comment_posted_before_its_id_was_stored_is_adopted_not_reposted(http, make_analysis):
    stubs.serve_pull_request(http)
    stubs.serve_publishing(http)
    http.post(CHAT, json=stubs.chat_completion([]))
    github = FakeReviewComments(http)
    same = answer_finding(HELPERS, 550, severity="high")
    push(http, make_analysis, "a" * 40, [same])
    Finding.objects.update(review_comment_id=None)  # the read-back was lost

    http.patch(
        f"{stubs.API}/repos/{stubs.REPO}/issues/comments/901", json=stubs.comment_json(901, "x")
    )
    push(http, make_analysis, "c" * 40, [same])

    assert len(calls_to(http, "POST", REVIEWS_API)) == 1
    assert len(github.comments) == 1
    assert Finding.objects.get().review_comment_id == 1000


def test_findings_below_the_inline_severity_or_off_the_diff_are_not_posted(
    http, make_analysis, settings
):
    settings.INLINE_MIN_SEVERITY = "high"
    stubs.serve_pull_request(http)
    stubs.serve_publishing(http)
    http.post(CHAT, json=stubs.chat_completion([]))
    FakeReviewComments(http)
    low = answer_finding(HELPERS, 550, severity="low", title="Minor")
    off = answer_finding(HELPERS, 9000, severity="critical", title="Off the diff")
    push(http, make_analysis, "a" * 40, [low, off])
    assert calls_to(http, "POST", REVIEWS_API) == []
    assert Finding.objects.count() == 2


def test_a_later_push_shows_where_things_stand_and_resolves_the_fixed_findings_thread(
    http, make_analysis
):
    served = {"head": "a" * 40, "diff": stubs.diff_text("01-plain-modification")}

    def pull_request(request):
        if request.headers.get("Accept") == stubs.DIFF_ACCEPT["Accept"]:
            return 200, {}, served["diff"]
        pr = stubs.pull_request_json(repo=stubs.REPO, number=stubs.NUMBER, head_sha=served["head"])
        return 200, {}, json.dumps(pr)

    def review(head: str, findings: list[dict]):
        served["head"] = head
        http.post(stubs.status_api(head), status=201, json={})
        http.replace(responses.POST, CHAT, json=stubs.chat_completion(findings))
        analysis = make_analysis(repo_full_name=stubs.REPO, pr_number=stubs.NUMBER, head_sha=head)
        review_pull_request.run(analysis.id)
        analysis.refresh_from_db()
        assert analysis.status == "completed", analysis.error
        return analysis

    http.add_callback(responses.GET, PR_API, callback=pull_request)
    stubs.serve_publishing(http)
    http.patch(
        f"{stubs.API}/repos/{stubs.REPO}/issues/comments/901", json=stubs.comment_json(901, "x")
    )
    http.post(CHAT, json=stubs.chat_completion([]))
    github = FakeReviewComments(http)
    kept = answer_finding(HELPERS, 550, severity="high", title="Unchecked path")
    gone = answer_finding(HELPERS, 551, severity="high", title="Insecure default")
    first = review("a" * 40, [kept, gone])
    fixed_row = Finding.objects.get(title="Insecure default")
    marker = next(c for c in github.comments if fixed_row.fingerprint in c["body"])
    thread = stubs.thread_json(
        "PRRT_fixed",
        stubs.thread_comment_json(stubs.PRISM_LOGIN, marker["body"], marker["id"]),
        path=HELPERS,
        line=551,
    )
    http.replace(responses.POST, stubs.GRAPHQL_API, json=stubs.threads_json(thread))
    http.post(stubs.GRAPHQL_API, json=stubs.resolved_json("PRRT_fixed"))

    # The next push rewrites line 551, and the model no longer raises its finding.
    served["diff"] = served["diff"].replace(
        "+        be a value provided by the client, otherwise it becomes insecure.",
        "+        be a value the client chose; it is checked below.",
    )
    second = review("c" * 40, [kept])

    fixed_row.refresh_from_db()
    assert (fixed_row.state, fixed_row.closed_by_id) == ("fixed", second.id)
    assert fixed_row.thread_node_id == "PRRT_fixed"
    [edited] = calls_to(http, "PATCH", f"{stubs.API}/repos/{stubs.REPO}/issues/comments/901")
    body = stubs.sent_json(edited)["body"]
    assert f"1 open (0 new) · 1 fixed since {first.head_sha[:7]}" in body
    assert "Unchecked path" in body and "Insecure default" not in body
    sent = [stubs.sent_json(call) for call in calls_to(http, "POST", stubs.GRAPHQL_API)]
    mutations = [body["variables"] for body in sent if "resolveReviewThread" in body["query"]]
    assert mutations == [{"threadId": "PRRT_fixed"}]
    assert second.comment_error == ""
