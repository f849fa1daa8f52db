"""A push to a pull request Prism already reviewed: incremental when GitHub vouches for a
fast-forward, full otherwise, or skipped with REVIEW_ON_PUSH=off; through the worker's task
with GitHub and the model stood in for at the HTTP level (tests/pipeline/conftest.py)."""

import pytest
from django.utils import timezone

from reviews.diffs import incremental
from reviews.diffs.parser import parse
from reviews.github.resources import comparison, pull_request
from reviews.llm.client import LLMClient, LLMConfig
from reviews.pipeline import review
from reviews.tasks import review_pull_request
from tests import stubs
from tests.diffs.test_incremental import THIRD_HUNK
from tests.factories import answer_finding
from tests.fixtures import diff_text
from tests.stubs import API, CHAT, COMMENTS_API, HEAD, NUMBER, REPO, calls_to, statuses_sent

pytestmark = pytest.mark.django_db

AUTH = "src/requests/auth.py"
OLD = "1" * 40
BASE = "b" * 40  # the base stubs.pull_request_json reports
COMPARE_API = f"{API}/repos/{REPO}/compare/{OLD}...{HEAD}"
DIFF = "12-multiple-hunks"  # five hunks of src/requests/auth.py


@pytest.fixture
def reviewed(make_analysis):
    """The pull request's first review, of OLD, completed."""
    return make_analysis(
        repo_full_name=REPO,
        pr_number=NUMBER,
        head_sha=OLD,
        base_sha=BASE,
        status="completed",
        finished_at=timezone.now(),
        feedback={"summary": "Fine.", "findings": [], "coverage": {"files_total": 1}},
    )


@pytest.fixture
def push(make_analysis, reviewed):
    """New commits pushed on top of OLD: the review of HEAD that GitHub's webhook queued."""
    return make_analysis(
        repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE, action="synchronize"
    )


def serve(http, *, compare=None, **pr):
    stubs.serve_pull_request(http, HEAD, diff=DIFF, **pr)
    stubs.serve_publishing(http)
    http.post(CHAT, json=stubs.chat_completion([]))
    if compare is not None:
        http.get(COMPARE_API, **compare)


def ahead(commits: int = 3) -> dict:
    files = [stubs.compared_file(AUTH, THIRD_HUNK)]
    return {"json": stubs.comparison_json(status="ahead", commits=commits, files=files)}


def prompt(http) -> str:
    return "\n".join(
        m["content"]
        for call in calls_to(http, "POST", CHAT)
        for m in stubs.sent_json(call)["messages"]
    )


def comment(http) -> str:
    [posted] = calls_to(http, "POST", COMMENTS_API)
    return stubs.sent_json(posted)["body"]


def test_a_fast_forward_push_sends_only_the_hunks_its_commits_touched(http, push):
    serve(http, compare=ahead())

    review_pull_request.run(push.id)

    push.refresh_from_db()
    assert push.status == "completed", push.error
    text = prompt(http)
    assert "164 + " in text and "@@ -161,7 +161,7 @@" in text
    assert "148 + " not in text and "205 + " not in text  # the four hunks reviewed before
    coverage = push.feedback["coverage"]
    assert (coverage["files_total"], coverage["lines_total"], coverage["lines_reviewed"]) == (
        1,
        2,
        2,
    )
    assert coverage["scope"] == {
        "mode": "incremental",
        "reason": "3 new commits on top of the last review",
        "base_sha": OLD,
        "head_sha": HEAD,
        "commits": 3,
        "files": 1,
        "lines": 2,
        "unchanged": 0,
    }
    assert "<sub>Incremental: 3 commits 1111111..aaaaaaa, 1 file, 2 changed lines.</sub>" in (
        comment(http)
    )
    assert statuses_sent(http) == ["pending", "success"]


def test_a_finding_on_a_hunk_reviewed_before_still_anchors_on_the_whole_diff(http, push):
    serve(http, compare=ahead())
    http.replace(
        "POST",
        CHAT,
        json=stubs.chat_completion([answer_finding(AUTH, 164), answer_finding(AUTH, 148)]),
    )

    review_pull_request.run(push.id)

    push.refresh_from_db()
    anchored = {(f["line"], f["anchored"]) for f in push.feedback["findings"]}
    assert anchored == {(164, True), (148, True)}


def test_a_force_push_is_reviewed_in_full_and_says_why(http, push):
    serve(http, compare={"json": stubs.comparison_json(status="diverged", commits=2)})

    review_pull_request.run(push.id)

    push.refresh_from_db()
    assert all(f"{n} + " in prompt(http) for n in (148, 156, 164, 172, 205))
    scope = push.feedback["coverage"]["scope"]
    assert (scope["mode"], scope["reason"]) == ("full", incremental.REWRITTEN)
    assert "<sub>Full review: history was rewritten (force-push or rebase).</sub>" in comment(http)


def test_a_moved_base_is_reviewed_in_full_without_asking_for_a_comparison(http, push, reviewed):
    reviewed.base_sha = "c" * 40
    reviewed.save()
    serve(http)

    review_pull_request.run(push.id)

    push.refresh_from_db()
    assert push.feedback["coverage"]["scope"]["reason"] == "the base branch moved"
    assert calls_to(http, "GET", COMPARE_API) == []
    assert "148 + " in prompt(http)


def test_a_comparison_github_cannot_make_means_a_full_review(http, push):
    serve(http, compare={"status": 404, "json": {"message": "Not Found"}})

    review_pull_request.run(push.id)

    push.refresh_from_db()
    assert push.status == "completed", push.error
    assert push.feedback["coverage"]["scope"]["reason"] == incremental.NO_COMPARISON


def test_a_last_review_that_left_lines_unread_means_a_full_review(http, push, reviewed):
    reviewed.feedback["coverage"]["skipped"] = [
        {"path": AUTH, "reason": "over_call_budget", "lines": 4}
    ]
    reviewed.save()
    serve(http)

    review_pull_request.run(push.id)

    push.refresh_from_db()
    assert push.feedback["coverage"]["scope"]["reason"] == incremental.EARLIER_REVIEW_INCOMPLETE
    assert calls_to(http, "GET", COMPARE_API) == []


def test_review_on_push_full_reviews_everything_again(http, push, settings):
    settings.REVIEW_ON_PUSH = "full"
    serve(http)

    review_pull_request.run(push.id)

    push.refresh_from_db()
    scope = push.feedback["coverage"]["scope"]
    assert (scope["mode"], scope["reason"]) == ("full", "REVIEW_ON_PUSH is full")
    assert calls_to(http, "GET", COMPARE_API) == []
    assert "<sub>Full review: REVIEW_ON_PUSH is full.</sub>" in comment(http)


def test_review_on_push_off_skips_the_push_and_never_shows_success(http, push, settings):
    settings.REVIEW_ON_PUSH = "off"
    serve(http)

    review_pull_request.run(push.id)

    push.refresh_from_db()
    assert (push.status, push.error) == ("skipped", "REVIEW_ON_PUSH is off")
    assert statuses_sent(http) == ["error"]
    [status] = calls_to(http, "POST", stubs.status_api())
    assert stubs.sent_json(status)["description"] == "Not reviewed: REVIEW_ON_PUSH is off"
    assert calls_to(http, "POST", CHAT) == [] and calls_to(http, "POST", COMMENTS_API) == []


def test_review_on_push_off_still_reviews_a_pull_request_never_reviewed(
    http, make_analysis, settings
):
    settings.REVIEW_ON_PUSH = "off"
    first = make_analysis(
        repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE, action="synchronize"
    )
    serve(http)

    review_pull_request.run(first.id)

    first.refresh_from_db()
    assert first.status == "completed", first.error
    assert "scope" not in first.feedback["coverage"]


def test_a_first_review_has_no_scope_and_no_scope_line(http, make_analysis):
    first = make_analysis(repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE)
    serve(http)

    review_pull_request.run(first.id)

    first.refresh_from_db()
    assert "scope" not in first.feedback["coverage"]
    assert "Incremental" not in comment(http) and "Full review" not in comment(http)
    assert calls_to(http, "GET", COMPARE_API) == []


def test_a_re_run_is_reviewed_in_full_without_a_scope(http, make_analysis, reviewed):
    rerun = make_analysis(
        repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE, action="rerun"
    )
    serve(http)

    review_pull_request.run(rerun.id)

    rerun.refresh_from_db()
    assert "scope" not in rerun.feedback["coverage"]


def test_the_result_carries_the_changed_lines_for_the_findings_ledger(http):
    http.post(CHAT, json=stubs.chat_completion([]))
    pr = stubs.pull_request_json(repo=REPO, number=NUMBER, head_sha=HEAD)
    llm = LLMClient(LLMConfig(base_url=stubs.LLM, api_key="", model="m", response_format="none"))
    files = parse(diff_text(DIFF))
    plan = incremental.plan_push(
        last_reviewed_head=OLD,
        last_reviewed_base=BASE,
        head=HEAD,
        base=BASE,
        comparison=comparison(ahead()["json"]),
    )

    result = review.review_files(
        files, pr=pull_request(REPO, pr), llm=llm, timings=review.Timings(), plan=plan
    )
    full = review.review_files(files, pr=pull_request(REPO, pr), llm=llm, timings=review.Timings())

    assert result.changed_lines == {AUTH: {163, 164}}
    assert "changed_lines" not in result.to_json()
    assert result.coverage.scope is not None and result.coverage.scope.lines == 2
    assert full.changed_lines is None and full.coverage.scope is None
