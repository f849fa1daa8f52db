from io import StringIO
from unittest import mock

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from reviews.comments import render as formatting
from reviews.models import Analysis
from tests import stubs
from tests.fixtures import DIFFS, diff_text
from tests.stubs import comment_number

pytestmark = pytest.mark.django_db


def test_requeue_stale_dispatches_what_the_broker_never_took(make_analysis):
    analysis = make_analysis(dispatched_at=None)
    out = StringIO()
    with mock.patch("reviews.tasks.review_pull_request.apply_async") as apply_async:
        call_command("requeue_stale", stdout=out)
    apply_async.assert_called_once_with((analysis.id,))
    assert "Dispatched 1 of 1." in out.getvalue()


def test_requeue_stale_dry_run_dispatches_nothing(make_analysis):
    make_analysis(dispatched_at=None)
    out = StringIO()
    with mock.patch("reviews.tasks.review_pull_request.apply_async") as apply_async:
        call_command("requeue_stale", "--dry-run", stdout=out)
    apply_async.assert_not_called()
    assert "Would dispatch 1" in out.getvalue()


def test_requeue_stale_exits_non_zero_while_the_broker_is_down(make_analysis):
    make_analysis(dispatched_at=None)
    err = StringIO()
    with (
        mock.patch("reviews.tasks.review_pull_request.apply_async", side_effect=OSError("refused")),
        pytest.raises(SystemExit) as exit_info,
    ):
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
        http.post(CHAT, json=stubs.chat_completion([stubs.finding("src/flask/helpers.py", 550)]))
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


def test_review_pr_queues_by_default(django_capture_on_commit_callbacks):
    out = StringIO()
    with (
        responses.RequestsMock() as http,
        mock.patch("reviews.tasks.review_pull_request.apply_async") as apply_async,
    ):
        http.get(
            PR_API, json=stubs.pull_request_json(repo="octo/widgets", number=7, head_sha="a" * 40)
        )
        with django_capture_on_commit_callbacks(execute=True):
            call_command("review_pr", "octo/widgets#7", stdout=out)
    analysis = Analysis.objects.get()
    apply_async.assert_called_once_with((analysis.id,))
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
        http.post(CHAT, json=stubs.chat_completion([stubs.finding("src/flask/helpers.py", 551)]))
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
        status="completed", feedback={"summary": "ok", "findings": []}, comment_error="boom"
    )
    out = StringIO()
    comments = f"{stubs.API}/repos/octo/widgets/issues/7/comments"
    with responses.RequestsMock() as http:
        http.get(comments, json=[])
        http.post(comments, status=201, json=stubs.comment_json(5, formatting.MARKER))
        call_command("repost_comment", str(analysis.id), stdout=out)
    analysis.refresh_from_db()
    assert (comment_number(analysis), analysis.comment_error) == (5, "")
    assert "Posted:" in out.getvalue()
