"""The check run in App mode (reviews/pipeline/checks.py): created in progress when the review
starts, completed with its conclusion, title, summary, annotations 50 a request and the
"Re-run review" button; `neutral` whenever the head was not reviewed. Every request body is
checked against GitHub's REST description (tests/pipeline/conftest.py)."""

import base64
import html
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import responses
from django.utils import timezone

from reviews import services
from reviews.github.client import GitHubClient
from reviews.models import Analysis, Installation, Repository
from reviews.pipeline import deferred, publish, review
from tests import stubs
from tests.factories import answer_finding, coverage, feedback, finding
from tests.fixtures import openapi_example
from tests.github.test_client import SECONDARY_LIMIT
from tests.stubs import (
    CHAT,
    COMMENTS_API,
    REPO,
    REVIEWS_API,
    calls_to,
    serve_publishing,
    serve_pull_request,
)

pytestmark = pytest.mark.django_db

HELPERS = "src/flask/helpers.py"
CHECK_RUNS = f"{stubs.API}/repos/{REPO}/check-runs"
CHECK_RUN = f"{CHECK_RUNS}/4"  # the id of GitHub's example check run
PUBLIC = "https://prism.example.com"


@pytest.fixture(autouse=True)
def app_mode(settings):
    settings.GITHUB_APP_ID = "12345"
    settings.GITHUB_APP_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"
    settings.POST_COMMIT_STATUS = False  # App mode's default
    settings.PRISM_PUBLIC_URL = PUBLIC


@pytest.fixture
def github() -> GitHubClient:
    """An installation's client, as reviews/clients.py builds it in App mode."""
    return GitHubClient(base_url=stubs.API, token="ghs_installationToken", login="prism[bot]")


def serve_checks(http) -> None:
    http.post(
        CHECK_RUNS, status=201, json=openapi_example("check-run-example-of-in-progress-conclusion")
    )
    http.patch(CHECK_RUN, json=openapi_example("check-run"))


def sent(http, method: str) -> list[dict]:
    url = CHECK_RUNS if method == "POST" else CHECK_RUN
    return [stubs.sent_json(call) for call in calls_to(http, method, url)]


def run(analysis: Analysis, github: GitHubClient) -> Analysis:
    assert services.analysis_claim(analysis_id=analysis.id) is services.Claim.CLAIMED
    review.run(analysis.id, github=github)
    analysis.refresh_from_db()
    return analysis


def test_a_review_starts_a_check_run_and_completes_it_with_annotations(
    http, analysis, github, settings
):
    settings.FAIL_ON_SEVERITY = "high"
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    serve_checks(http)
    answers = [
        answer_finding(HELPERS, 550, severity="high", title="Path from the client"),
        answer_finding(HELPERS, 551, severity="medium", title="Unclear wording"),
        answer_finding(HELPERS, 549, severity="low", title="Typo", category="style"),
    ]
    http.post(CHAT, json=stubs.chat_completion(answers, summary="Three things."))

    done = run(analysis, github)

    assert done.status == "completed", done.error
    [started] = sent(http, "POST")
    assert started == {
        "name": "Prism review",
        "head_sha": analysis.head_sha,
        "external_id": str(analysis.id),
        "status": "in_progress",
        "details_url": f"{PUBLIC}/admin/reviews/analysis/{analysis.id}/change/",
    }
    order = [call.request.url for call in http.calls]
    assert order.index(CHECK_RUNS) < order.index(CHAT), "in progress before the model is asked"
    [completed] = sent(http, "PATCH")
    assert (completed["status"], completed["conclusion"]) == ("completed", "failure")
    assert completed["output"]["title"] == "3 findings (1 high) · reviewed 1 of 1 files"
    assert "Three things." in completed["output"]["summary"]
    assert (
        "https://github.com/octo/widgets/pull/7#issuecomment-901" in completed["output"]["summary"]
    )
    levels = {a["start_line"]: a["annotation_level"] for a in completed["output"]["annotations"]}
    assert levels == {550: "failure", 551: "warning", 549: "notice"}
    assert completed["actions"] == [
        {"label": "Re-run review", "description": "Review this commit again", "identifier": "rerun"}
    ]
    assert done.check_run_id == 4
    assert not [c for c in http.calls if "/statuses/" in (c.request.url or "")]


def test_a_complete_review_below_the_threshold_succeeds(http, analysis, github, settings):
    settings.FAIL_ON_SEVERITY = "critical"
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    serve_checks(http)
    http.post(CHAT, json=stubs.chat_completion([answer_finding(HELPERS, 550, severity="high")]))

    run(analysis, github)

    [completed] = sent(http, "PATCH")
    assert completed["conclusion"] == "success"
    assert completed["output"]["title"] == "1 finding (1 high) · reviewed 1 of 1 files"


def test_a_clean_review_succeeds_with_no_annotations(http, analysis, github):
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    serve_checks(http)
    http.post(CHAT, json=stubs.chat_completion([]))

    run(analysis, github)

    [completed] = sent(http, "PATCH")
    assert completed["conclusion"] == "success"
    assert completed["output"]["title"] == "No findings · reviewed 1 of 1 files"
    assert "annotations" not in completed["output"]


@pytest.mark.parametrize(
    ("skipped", "threshold", "expected"),
    [
        ((), "high", "success"),
        ((("a.py", "over_call_budget", 10),), "high", "neutral"),  # not all of it was read
        ((("a.py", "model_error", 10),), "never", "neutral"),
        ((("poetry.lock", "lockfile", 10),), "high", "success"),  # skipped on purpose
    ],
)
def test_the_conclusion_of_a_completed_review(skipped, threshold, expected):
    from reviews.comments import check_run
    from reviews.results import Skipped

    cover = coverage(skipped=tuple(Skipped(*item) for item in skipped))
    findings = [finding(severity="medium")]

    assert check_run.conclusion(findings, cover, threshold) == expected
    assert check_run.conclusion([finding(severity="high")], cover, "high") == "failure"
    assert check_run.conclusion([finding(severity="critical")], cover, "never") == expected


def test_120_findings_are_annotated_in_three_requests(http, make_analysis, github):
    findings = [
        finding(
            HELPERS, 547 + n % 8, title=f"Finding {n}", severity=("high", "medium", "low")[n % 3]
        )
        for n in range(120)
    ]
    analysis = make_analysis(
        repo_full_name=REPO,
        pr_number=stubs.NUMBER,
        head_sha=stubs.HEAD,
        status=Analysis.Status.COMPLETED,
        feedback=feedback(*findings),
        check_run_id=4,
    )
    http.patch(CHECK_RUN, json=openapi_example("check-run"))

    publish.checks.complete(analysis, github, None, "")

    batches = sent(http, "PATCH")
    assert [len(b["output"]["annotations"]) for b in batches] == [50, 50, 20]
    assert batches[0]["conclusion"] == "success" and "actions" in batches[0]
    assert all("conclusion" not in b and "actions" not in b for b in batches[1:])
    titles = [a["title"] for b in batches for a in b["output"]["annotations"]]
    assert len(set(titles)) == 120
    assert all(a["annotation_level"] == "failure" for a in batches[0]["output"]["annotations"][:40])


def test_a_review_over_its_budget_makes_no_model_call(http, analysis, github, settings):
    settings.LLM_PRICES = {"openai/gpt-4o-mini": {"input": Decimal("3"), "output": Decimal("15")}}
    installation = Installation.objects.create(id=9, account_login="octo")
    Repository.objects.create(
        installation=installation, full_name=REPO, daily_budget=Decimal("0.01")
    )
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    serve_checks(http)

    done = run(analysis, github)

    title = "Not reviewed: octo/widgets reached its $0.01 daily budget (resets 00:00 UTC)"
    assert done.status == "skipped"
    assert done.error.startswith(title + ". Spent $0.00 this day of $0.01")
    assert not calls_to(http, "POST", CHAT)
    assert done.cost_estimate and done.cost_estimate > Decimal("0.01")
    [completed] = sent(http, "PATCH")
    assert (completed["conclusion"], completed["output"]["title"]) == ("neutral", title)
    [comment] = calls_to(http, "POST", COMMENTS_API)
    body = html.unescape(stubs.sent_json(comment)["body"])  # "$" is sent as &#36;
    assert f"### {title}" in body and "has not been reviewed" in body
    assert done.comment_url.endswith("#issuecomment-901")


def test_a_push_with_review_on_push_off_is_neutral(http, make_analysis, github, settings):
    settings.REVIEW_ON_PUSH = "off"
    make_analysis(
        repo_full_name=REPO,
        pr_number=stubs.NUMBER,
        head_sha="c" * 40,
        status=Analysis.Status.COMPLETED,
        feedback=feedback(),
    )
    push = make_analysis(
        repo_full_name=REPO, pr_number=stubs.NUMBER, head_sha=stubs.HEAD, action="synchronize"
    )
    serve_pull_request(http, push.head_sha)
    http.post(
        CHECK_RUNS, status=201, json=openapi_example("check-run-example-of-completed-conclusion")
    )

    done = run(push, github)

    assert done.status == "skipped"
    [created] = sent(http, "POST")
    assert (created["status"], created["conclusion"]) == ("completed", "neutral")
    assert created["output"]["title"] == "Not reviewed: REVIEW_ON_PUSH is off"
    assert created["actions"][0]["identifier"] == "rerun"


def test_a_review_skipped_by_policy_is_neutral(http, analysis, github, settings):
    settings.REPO_POLICY = True
    serve_pull_request(http, analysis.head_sha)
    http.get(f"{stubs.API}/repos/{REPO}", json={"default_branch": "main"})
    policy = "version: 1\nenabled: false\n"

    http.get(
        f"{stubs.API}/repos/{REPO}/contents/.github/prism.yml",
        json={
            "type": "file",
            "encoding": "base64",
            "size": len(policy),
            "name": "prism.yml",
            "path": ".github/prism.yml",
            "sha": "3" * 40,
            "content": base64.b64encode(policy.encode()).decode(),
        },
    )
    http.post(
        CHECK_RUNS, status=201, json=openapi_example("check-run-example-of-completed-conclusion")
    )

    done = run(analysis, github)

    assert done.status == "skipped"
    [created] = sent(http, "POST")
    assert created["conclusion"] == "neutral"
    assert created["output"]["title"] == "Not reviewed: disabled by .github/prism.yml"
    assert not calls_to(http, "POST", CHAT)


def test_a_failed_review_ends_its_check_neutral(http, make_analysis, github):
    analysis = make_analysis(
        repo_full_name=REPO,
        pr_number=stubs.NUMBER,
        head_sha=stubs.HEAD,
        status=Analysis.Status.FAILED,
        error="the LLM provider rejected the API key (401): bad key\nmore",
        check_run_id=4,
    )
    http.patch(CHECK_RUN, json=openapi_example("check-run"))

    publish.report_failure(analysis.id, github)

    [completed] = sent(http, "PATCH")
    assert completed["conclusion"] == "neutral"
    assert completed["output"]["title"] == "Not reviewed: the review failed"
    assert "rejected the API key" in completed["output"]["summary"]
    assert "more" not in completed["output"]["summary"]


def test_a_takeover_keeps_the_check_run_its_first_attempt_created(http, analysis, github):
    Analysis.objects.filter(pk=analysis.pk).update(check_run_id=4)
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    http.patch(CHECK_RUN, json=openapi_example("check-run"))
    http.post(CHAT, json=stubs.chat_completion([]))

    run(analysis, github)

    assert sent(http, "POST") == []
    assert [b["conclusion"] for b in sent(http, "PATCH")] == ["success"]


def test_a_check_run_github_refuses_is_recorded_not_fatal(http, analysis, github):
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    forbidden = {"message": "Resource not accessible by integration", "documentation_url": "x"}
    http.post(CHECK_RUNS, status=403, json=forbidden)
    http.post(CHAT, json=stubs.chat_completion([]))

    done = run(analysis, github)

    assert done.status == "completed"
    assert "check run" in done.comment_error and "not accessible" in done.comment_error


def test_personal_token_mode_posts_no_check_run(http, analysis, settings):
    settings.GITHUB_APP_ID = ""
    settings.GITHUB_APP_PRIVATE_KEY = ""
    settings.POST_COMMIT_STATUS = True
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    http.post(CHAT, json=stubs.chat_completion([]))
    github = GitHubClient(base_url=stubs.API, token="ghp_personal")

    run(analysis, github)

    assert not [c for c in http.calls if "/check-runs" in (c.request.url or "")]
    assert stubs.statuses_sent(http) == ["pending", "success"]


def test_the_actual_cost_is_priced_when_the_provider_reports_none(http, analysis, github, settings):
    settings.LLM_PRICES = {
        "openai/gpt-4o-mini": {"input": Decimal("0.15"), "output": Decimal("0.6")}
    }
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    serve_checks(http)
    http.post(CHAT, json=stubs.chat_completion([]))  # usage: 1,200 in, 80 out, no cost

    done = run(analysis, github)

    assert done.cost == Decimal("0.000228")  # 1200 x 0.15/M + 80 x 0.6/M
    assert done.result.usage.cost == pytest.approx(0.000228)


def test_a_review_superseded_while_it_ran_ends_its_check_neutral(
    http, analysis, github, monkeypatch
):
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    serve_checks(http)
    http.post(CHAT, json=stubs.chat_completion([]))
    store = review.ledger.analysis_complete_with_findings

    def superseded_first(**kwargs):
        # A newer push's review supersedes this one while the model is answering.
        Analysis.objects.filter(pk=analysis.pk).update(
            status=Analysis.Status.SUPERSEDED, error="Superseded by analysis #99 of eeee."
        )
        return store(**kwargs)

    monkeypatch.setattr(review.ledger, "analysis_complete_with_findings", superseded_first)

    done = run(analysis, github)

    assert done.status == "superseded"
    [completed] = sent(http, "PATCH")
    assert completed["conclusion"] == "neutral"
    assert completed["output"]["title"] == "Not reviewed: a newer push replaced this review"
    assert not calls_to(http, "POST", COMMENTS_API)


def test_a_daily_cap_without_the_models_price_warns_at_startup(settings):
    from reviews.checks import check_budget_prices

    settings.BUDGET_DAILY_USD = Decimal("5")
    settings.LLM_MODEL = "openai/gpt-4o-mini"
    settings.LLM_ALLOWED_MODELS = ["anthropic/claude-sonnet-4"]
    settings.LLM_PRICES = {"openai/gpt-4o-mini": {"input": Decimal(1), "output": Decimal(1)}}

    [warning] = check_budget_prices(None)

    assert warning.id == "prism.W040" and "anthropic/claude-sonnet-4" in warning.msg
    settings.BUDGET_DAILY_USD = None
    assert check_budget_prices(None) == []


def test_a_reposted_review_gets_a_new_check_run_not_its_annotations_twice(
    http, make_analysis, github
):
    analysis = make_analysis(
        repo_full_name=REPO,
        pr_number=stubs.NUMBER,
        head_sha=stubs.HEAD,
        status=Analysis.Status.COMPLETED,
        feedback=feedback(finding(HELPERS, 550)),
        check_run_id=77,
    )
    serve_publishing(http)
    http.post(
        CHECK_RUNS, status=201, json=openapi_example("check-run-example-of-completed-conclusion")
    )

    publish.repost_comment(analysis.id, github)

    [created] = sent(http, "POST")
    assert created["conclusion"] == "success" and len(created["output"]["annotations"]) == 1
    assert not calls_to(http, "PATCH", f"{CHECK_RUNS}/77")
    analysis.refresh_from_db()
    assert analysis.check_run_id == 4


def test_a_completion_met_by_the_rate_limit_is_posted_later_not_left_in_progress(
    http, analysis, github
):
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    serve_checks(http)
    http.replace(
        responses.PATCH, CHECK_RUN, status=403, json=SECONDARY_LIMIT, headers={"Retry-After": "60"}
    )
    http.post(CHAT, json=stubs.chat_completion([answer_finding(HELPERS, 550)]))

    with mock.patch("reviews.tasks.publish_review.apply_async") as publish_queue:
        done = run(analysis, github)

    assert done.status == "completed", done.error
    assert done.comment_error.startswith("Waiting for GitHub's rate limit")
    assert done.publish_due_at is not None and publish_queue.call_count == 1

    Analysis.objects.filter(id=analysis.id).update(
        publish_due_at=timezone.now() - timedelta(seconds=1)
    )
    http.replace(responses.PATCH, CHECK_RUN, json=openapi_example("check-run"))
    # GitHub lists back the inline comments the first round posted.
    [posted] = calls_to(http, "POST", REVIEWS_API)
    listed = [
        {**comment, "id": 1000 + n, "side": "RIGHT", "user": {"login": "prism[bot]", "type": "Bot"}}
        for n, comment in enumerate(stubs.sent_json(posted)["comments"])
    ]
    http.replace(responses.GET, stubs.REVIEW_COMMENTS_API, json=listed)
    deferred.publish_due(analysis.id, github)

    posted_later = Analysis.objects.get(id=analysis.id)
    assert posted_later.comment_error == "" and posted_later.publish_due_at is None
    # The completion sent again, and nothing else twice.
    assert [c["conclusion"] for c in sent(http, "PATCH")] == ["success", "success"]
    assert len(sent(http, "POST")) == 1
    assert len(calls_to(http, "POST", COMMENTS_API)) == 1
    assert len(calls_to(http, "POST", REVIEWS_API)) == 1
