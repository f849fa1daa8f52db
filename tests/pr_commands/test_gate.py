"""Reviews under commands: a paused pull request's pushes are skipped as not reviewed, an
opted-out one is not reviewed automatically, and a review someone asked for is incremental
when the ledger allows (or full when asked), whatever REVIEW_ON_PUSH says."""

import pytest
from django.utils import timezone

from reviews.models import PullRequestState
from reviews.pipeline import push as push_module
from reviews.tasks import review_pull_request
from tests import stubs
from tests.diffs.test_incremental import THIRD_HUNK
from tests.stubs import API, CHAT, COMMENTS_API, HEAD, NUMBER, REPO, calls_to, statuses_sent

pytestmark = pytest.mark.django_db

AUTH = "src/requests/auth.py"
OLD = "1" * 40
BASE = "b" * 40
COMPARE_API = f"{API}/repos/{REPO}/compare/{OLD}...{HEAD}"
DIFF = "12-multiple-hunks"


@pytest.fixture
def reviewed(make_analysis):
    return make_analysis(
        repo_full_name=REPO,
        pr_number=NUMBER,
        head_sha=OLD,
        base_sha=BASE,
        status="completed",
        finished_at=timezone.now(),
        feedback={"summary": "Fine.", "findings": [], "coverage": {"files_total": 1}},
    )


def serve(http, **pr):
    stubs.serve_pull_request(http, HEAD, diff=DIFF, **pr)
    stubs.serve_publishing(http)
    http.post(CHAT, json=stubs.chat_completion([]))
    files = [stubs.compared_file(AUTH, THIRD_HUNK)]
    http.get(COMPARE_API, json=stubs.comparison_json(status="ahead", commits=2, files=files))


def pause(by: str = "octo") -> None:
    PullRequestState.objects.create(
        repo_full_name=REPO, pr_number=NUMBER, paused=True, paused_by=by, paused_at=timezone.now()
    )


def test_a_push_to_a_paused_pull_request_is_skipped_and_never_shown_as_success(
    http, make_analysis, reviewed
):
    pause("octo")
    pushed = make_analysis(
        repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE, action="synchronize"
    )
    serve(http)

    review_pull_request.run(pushed.id)

    pushed.refresh_from_db()
    assert (pushed.status, pushed.error) == ("skipped", "Paused by @octo")
    assert statuses_sent(http) == ["error"]
    [status] = calls_to(http, "POST", stubs.status_api())
    assert stubs.sent_json(status)["description"] == "Not reviewed: paused by @octo"
    assert calls_to(http, "POST", CHAT) == [] and calls_to(http, "POST", COMMENTS_API) == []


def test_a_paused_pull_request_still_gets_a_review_someone_asks_for(http, make_analysis, reviewed):
    pause()
    manual = make_analysis(
        repo_full_name=REPO,
        pr_number=NUMBER,
        head_sha=HEAD,
        base_sha=BASE,
        event="command",
        action="review",
        delivery_id=None,
    )
    serve(http)

    review_pull_request.run(manual.id)

    manual.refresh_from_db()
    assert manual.status == "completed", manual.error


def test_a_manual_review_is_incremental_when_the_ledger_allows(http, make_analysis, reviewed):
    manual = make_analysis(
        repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE,
        event="command", action="review", delivery_id=None,
    )  # fmt: skip
    serve(http)

    review_pull_request.run(manual.id)

    manual.refresh_from_db()
    scope = manual.feedback["coverage"]["scope"]
    assert (scope["mode"], scope["commits"]) == ("incremental", 2), scope
    assert len(calls_to(http, "GET", COMPARE_API)) == 1


def test_a_full_review_reads_everything_and_says_it_was_asked_for(http, make_analysis, reviewed):
    manual = make_analysis(
        repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE,
        event="command", action="full_review", delivery_id=None,
    )  # fmt: skip
    serve(http)

    review_pull_request.run(manual.id)

    manual.refresh_from_db()
    scope = manual.feedback["coverage"]["scope"]
    assert (scope["mode"], scope["reason"]) == ("full", push_module.ASKED_FULL_REASON)
    assert calls_to(http, "GET", COMPARE_API) == []
    [posted] = calls_to(http, "POST", COMMENTS_API)
    assert (
        "Full review: a full review was asked for on the pull request."
        in (stubs.sent_json(posted)["body"])
    )


def test_review_on_push_off_does_not_stop_a_review_someone_asked_for(
    http, make_analysis, reviewed, settings
):
    settings.REVIEW_ON_PUSH = "off"
    manual = make_analysis(
        repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE,
        event="command", action="review", delivery_id=None,
    )  # fmt: skip
    serve(http)

    review_pull_request.run(manual.id)

    manual.refresh_from_db()
    assert manual.status == "completed", manual.error
    assert manual.feedback["coverage"]["scope"]["mode"] == "incremental"


def test_an_author_who_opted_out_gets_no_automatic_review_and_nothing_posted(http, make_analysis):
    opened = make_analysis(repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE)
    serve(http, body="Generated migration.\n\n@prism ignore\n")

    review_pull_request.run(opened.id)

    opened.refresh_from_db()
    assert opened.status == "skipped"
    assert opened.error == (
        "The description says @prism ignore: no automatic reviews of this pull request."
    )
    assert calls_to(http, "POST", CHAT) == []
    assert statuses_sent(http) == [] and calls_to(http, "POST", COMMENTS_API) == []


def test_an_opted_out_pull_request_is_still_reviewed_when_asked(http, make_analysis):
    manual = make_analysis(
        repo_full_name=REPO, pr_number=NUMBER, head_sha=HEAD, base_sha=BASE,
        event="command", action="review", delivery_id=None,
    )  # fmt: skip
    serve(http, body="@prism ignore")

    review_pull_request.run(manual.id)

    manual.refresh_from_db()
    assert manual.status == "completed", manual.error
