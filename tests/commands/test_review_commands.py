from io import StringIO
from unittest import mock

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from reviews.comments import render as formatting
from reviews.models import Analysis
from reviews.tasks import review_pull_request
from tests import stubs
from tests.factories import answer_finding, feedback
from tests.fixtures import DIFFS, diff_text
from tests.stubs import comment_number

pytestmark = pytest.mark.django_db

HELPERS = "src/flask/helpers.py"


def test_requeue_stale_dispatches_what_the_broker_never_took(make_analysis, broker):
    analysis = make_analysis(dispatched_at=None)
    out = StringIO()
    call_command("requeue_stale", stdout=out)
    broker.assert_called_once_with((analysis.id,))
    assert "Dispatched 1 of 1." in out.getvalue()


def test_requeue_stale_dry_run_dispatches_nothing(make_analysis, broker):
    make_analysis(dispatched_at=None)
    out = StringIO()
    call_command("requeue_stale", "--dry-run", stdout=out)
    broker.assert_not_called()
    assert "Would dispatch 1" in out.getvalue()


def test_requeue_stale_exits_non_zero_while_the_broker_is_down(make_analysis, broker):
    make_analysis(dispatched_at=None)
    err = StringIO()
    broker.side_effect = OSError("refused")
    with pytest.raises(SystemExit) as exit_info:
        call_command("requeue_stale", stdout=StringIO(), stderr=err)
    assert exit_info.value.code == 1
    assert "Broker unavailable" in err.getvalue()


PR_API = f"{stubs.API}/repos/octo/widgets/pulls/7"
CHAT = f"{stubs.LLM}/chat/completions"


@pytest.mark.parametrize(
    "reference",
    ["octo/widgets", "octo#7", "https://github.com/octo/widgets/issues/7", "octo/widgets#0"],
)
def test_review_pr_refuses_what_is_not_a_pull_request_reference(reference):
    with pytest.raises(CommandError, match="is not a pull request"):
        call_command("review_pr", reference)


def test_review_pr_no_post_reviews_here_prints_the_comment_and_posts_nothing():
    out = StringIO()
    with responses.RequestsMock() as http:
        http.get(
            PR_API,
            json=stubs.pull_request_json(repo="octo/widgets", number=7, head_sha="a" * 40),
            match=[responses.matchers.header_matcher({"Accept": "application/vnd.github+json"})],
        )
        http.get(
            PR_API,
            body=diff_text("01-plain-modification"),
            match=[responses.matchers.header_matcher({"Accept": "application/vnd.github.diff"})],
        )
        http.post(CHAT, json=stubs.chat_completion([answer_finding("src/flask/helpers.py", 550)]))
        call_command(
            "review_pr",
            "https://github.com/octo/widgets/pull/7",
            "--no-post",
            stdout=out,
            stderr=StringIO(),
        )
        assert all(
            call.request.method == "GET"
            for call in http.calls
            if stubs.API in (call.request.url or "")
        )

    analysis = Analysis.objects.get()
    assert (analysis.status, analysis.action, analysis.delivery_id) == (
        "completed",
        "review_pr",
        None,
    )
    assert out.getvalue().startswith(formatting.MARKER)
    assert "Off-by-one" in out.getvalue()


def test_review_pr_queues_by_default(broker, django_capture_on_commit_callbacks):
    out = StringIO()
    with responses.RequestsMock() as http:
        http.get(
            PR_API, json=stubs.pull_request_json(repo="octo/widgets", number=7, head_sha="a" * 40)
        )
        with django_capture_on_commit_callbacks(execute=True):
            call_command("review_pr", "octo/widgets#7", stdout=out)
    analysis = Analysis.objects.get()
    broker.assert_called_once_with((analysis.id,))
    assert f"Queued analysis {analysis.id}." in out.getvalue()


def test_review_pr_reports_a_pull_request_github_does_not_know():
    with responses.RequestsMock() as http:
        http.get(PR_API, status=404, json={"message": "Not Found"})
        with pytest.raises(CommandError, match="Not Found"):
            call_command("review_pr", "octo/widgets#7")
    assert not Analysis.objects.exists()


def test_review_diff_reviews_a_local_diff_and_prints_the_comment(tmp_path):
    out = StringIO()
    with responses.RequestsMock() as http:
        http.post(CHAT, json=stubs.chat_completion([answer_finding("src/flask/helpers.py", 551)]))
        call_command("review_diff", str(DIFFS / "01-plain-modification.diff"), stdout=out)
    assert "Off-by-one" in out.getvalue()
    assert not Analysis.objects.exists()


def test_review_diff_refuses_an_empty_or_missing_diff(tmp_path):
    empty = tmp_path / "empty.diff"
    empty.write_text("")
    with pytest.raises(CommandError, match="empty"):
        call_command("review_diff", str(empty))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("review_diff", str(tmp_path / "missing.diff"))


def test_repost_comment_refuses_unknown_and_unfinished_analyses(make_analysis):
    with pytest.raises(CommandError, match="No analysis with id 999"):
        call_command("repost_comment", "999")
    queued = make_analysis()
    with pytest.raises(CommandError, match="only completed reviews"):
        call_command("repost_comment", str(queued.id))


def test_repost_comment_posts_a_completed_review_again(make_analysis, settings):
    settings.POST_INLINE_COMMENTS = False
    settings.POST_COMMIT_STATUS = False
    analysis = make_analysis(
        status="completed", feedback=feedback(summary="ok"), comment_error="boom"
    )
    out = StringIO()
    comments = f"{stubs.API}/repos/octo/widgets/issues/7/comments"
    with responses.RequestsMock() as http:
        stubs.serve_identity(http)
        http.get(comments, json=[])
        http.post(comments, status=201, json=stubs.comment_json(5, formatting.MARKER))
        call_command("repost_comment", str(analysis.id), stdout=out)
    analysis.refresh_from_db()
    assert (comment_number(analysis), analysis.comment_error) == (5, "")
    assert "Posted:" in out.getvalue()


# --- review_pr: the worker's failure path, and --no-post --------------------------------------


def review_pr(*args: str) -> str:
    out = StringIO()
    call_command("review_pr", f"{stubs.REPO}#{stubs.NUMBER}", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_leaves_a_sync_review_interrupted_by_ctrl_c_failed_and_says_so_on_the_pr():
    with responses.RequestsMock() as http:
        stubs.serve_pull_request(http)
        http.post(stubs.status_api(), status=201, json={})  # pending, then error
        with (
            mock.patch(
                "reviews.pipeline.review.review_files", side_effect=KeyboardInterrupt
            ) as model_call,
            pytest.raises(KeyboardInterrupt),
        ):
            review_pr("--sync")
        sent = stubs.statuses_sent(http)

    model_call.assert_called_once()  # interrupted mid-review, after the pending status
    analysis = Analysis.objects.get()
    assert analysis.status == "failed"
    assert analysis.error == "Interrupted before the review finished; re-run it."
    assert (analysis.lease_expires_at, analysis.finished_at is not None) == (None, True)
    assert sent == ["pending", "error"]


def test_it_stores_a_no_post_review_as_not_to_publish_and_the_worker_never_posts_it():
    # Only reads are registered: any write to GitHub would go unanswered and fail the mock.
    with responses.RequestsMock(assert_all_requests_are_fired=True) as http:
        stubs.serve_pull_request(http)
        http.post(stubs.CHAT, json=stubs.chat_completion([answer_finding(HELPERS, 550)]))
        review_pr("--no-post")
        analysis = Analysis.objects.get()
        assert (analysis.publish, analysis.status) == (False, "completed")

        Analysis.objects.filter(id=analysis.id).update(
            status="queued", finished_at=None, feedback={}, attempts=0
        )
        review_pull_request.run(analysis.id)
        github_calls = [
            c.request.method for c in http.calls if (c.request.url or "").startswith(stubs.API)
        ]

    analysis.refresh_from_db()
    assert (analysis.status, analysis.publish) == ("completed", False), analysis.error
    assert analysis.attempts == 1  # the worker did review it again
    assert analysis.result.findings[0].path == HELPERS
    assert set(github_calls) == {"GET"}
    assert (analysis.comment_url, analysis.comment_error) == ("", "")


def test_it_posts_an_error_status_when_a_sync_review_fails_never_leaving_it_pending():
    with responses.RequestsMock() as http:
        stubs.serve_pull_request(http)
        http.post(stubs.status_api(), status=201, json={})
        http.post(
            stubs.CHAT,
            status=400,
            json={"error": {"message": "This model's maximum context length is 8192 tokens."}},
        )
        with pytest.raises(CommandError, match=r"failed: .*rejected the request \(400\)"):
            review_pr("--sync")
        sent = stubs.statuses_sent(http)
        [error] = [c for c in http.calls if "/statuses/" in (c.request.url or "")][1:]

    analysis = Analysis.objects.get()
    assert analysis.status == "failed"
    assert "maximum context length" in analysis.error
    assert sent == ["pending", "error"]
    assert stubs.sent_json(error)["context"] == "prism/review"
