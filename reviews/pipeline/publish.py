"""What the pull request shows: one sticky summary comment, inline comments, a commit status.

Publishing never changes a review's outcome: a failure to post keeps the analysis
completed with its findings and records `comment_error`, which `repost_comment` retries.
"""

import logging
import re
from typing import Any

from django.conf import settings
from django.db import transaction

from reviews import clients, services
from reviews.comments import render
from reviews.github.client import GitHubClient, GitHubError
from reviews.github.resources import Comment
from reviews.models import Analysis, StickyComment
from reviews.results import Finding, ReviewResult

logger = logging.getLogger(__name__)

STATUS_CONTEXT = "prism/review"
FINGERPRINT = re.compile(r"<!-- prism:finding:([0-9a-f]{16}) -->")


def publish_review(analysis_id: int, github: GitHubClient) -> bool:
    """Post a completed review. True when everything it meant to post was posted."""
    analysis = Analysis.objects.get(id=analysis_id)
    if analysis.status != Analysis.Status.COMPLETED:
        logger.info("not publishing analysis_id=%s status=%s", analysis.id, analysis.status)
        return False
    errors: list[str] = []
    comment = _attempt(errors, "summary comment", post_summary, analysis, github)
    if comment is None and not errors:
        # A newer review of this pull request is already on it: this one stays unposted,
        # and says so where the operator looks.
        services.analysis_record_comment(
            analysis_id=analysis.id,
            comment=None,
            error="Not posted: a newer review of this pull request is already shown.",
        )
        return True
    if settings.POST_INLINE_COMMENTS:
        _attempt(errors, "inline comments", post_inline_comments, analysis, github)
    if settings.POST_COMMIT_STATUS:
        state, description = final_status(analysis.result)
        target = comment.html_url if comment else None
        _attempt(errors, "commit status", _set_status, analysis, github, state, description, target)
    services.analysis_record_comment(
        analysis_id=analysis.id, comment=comment, error="; ".join(errors)
    )
    return not errors


def report_pending(analysis: Analysis, github: GitHubClient) -> None:
    """Tell the pull request a review is under way (best effort: a status is not the review)."""
    if settings.POST_COMMIT_STATUS:
        _attempt([], "pending status", _set_status, analysis, github, "pending", "Reviewing…")


def report_failure(analysis_id: int, github: GitHubClient) -> None:
    """A review that could not run is reported as such, never as a success or a clean review.

    An existing Prism comment is replaced by the failure notice, so older findings are not
    mistaken for a review of this commit; no new comment is added just to say so.
    """
    analysis = Analysis.objects.get(id=analysis_id)
    if settings.POST_COMMIT_STATUS:
        _attempt([], "error status", _set_status, analysis, github, "error", "Review failed")
    sticky = StickyComment.objects.filter(
        repo_full_name=analysis.repo_full_name, pr_number=analysis.pr_number
    ).first()
    if sticky and sticky.comment_id:
        body = render.render_failure(error=analysis.error, ctx=comment_context(analysis))
        _attempt([], "failure notice", _write_sticky, analysis, github, body)


def repost_comment(analysis_id: int, github: GitHubClient | None = None) -> bool:
    """Post a completed review again (after `comment_error`): `manage.py repost_comment`."""
    return publish_review(analysis_id, github or clients.github_client())


def comment_context(analysis: Analysis) -> render.CommentContext:
    return render.CommentContext(analysis_id=analysis.id, pull_request=analysis.pull_request)


def post_summary(analysis: Analysis, github: GitHubClient) -> Comment | None:
    body = render.render_review(analysis.result, comment_context(analysis))
    return _write_sticky(analysis, github, body)


def _write_sticky(analysis: Analysis, github: GitHubClient, body: str) -> Comment | None:
    """Create or edit Prism's one comment on the pull request, newest review winning.

    The StickyComment row is locked while we talk to GitHub, so two reviews of one pull
    request cannot both decide to create a comment.
    """
    repo, number = analysis.repo_full_name, analysis.pr_number
    StickyComment.objects.get_or_create(repo_full_name=repo, pr_number=number)
    with transaction.atomic():
        sticky = StickyComment.objects.select_for_update().get(
            repo_full_name=repo, pr_number=number
        )
        if sticky.analysis_id and sticky.analysis_id > analysis.id:
            logger.info("a newer review is already shown analysis_id=%s", analysis.id)
            return None
        comment = _edit(github, repo, sticky.comment_id, body) if sticky.comment_id else None
        if comment is None:
            existing = _find_marked_comment(github, repo, number)
            comment = (
                _edit(github, repo, existing.id, body)
                if existing
                else github.create_issue_comment(repo, number, body)
            )
        if comment is None:  # the marked comment vanished between listing and editing
            comment = github.create_issue_comment(repo, number, body)
        sticky.comment_id, sticky.comment_url, sticky.analysis = (
            comment.id,
            comment.html_url,
            analysis,
        )
        sticky.save()
    return comment


def _edit(github: GitHubClient, repo: str, comment_id: int, body: str) -> Comment | None:
    """Edit a comment; None when someone deleted it, so a new one is created instead."""
    try:
        return github.update_issue_comment(repo, comment_id, body)
    except GitHubError as exc:
        if exc.status == 404:
            return None
        raise


def _find_marked_comment(github: GitHubClient, repo: str, number: int) -> Comment | None:
    """Prism's comment from before it was recorded here (a new database, a lost row).

    Only one Prism wrote itself: anyone can post a comment that starts with the marker, and
    adopting theirs would put Prism's review in a comment its author can rewrite.
    """
    me = github.authenticated_login()
    for comment in github.list_issue_comments(repo, number):
        if comment.author == me and comment.body.startswith(render.MARKER):
            return comment
    return None


def post_inline_comments(analysis: Analysis, github: GitHubClient) -> None:
    """One COMMENT review holding a comment per anchored finding not posted on an earlier push.

    A review is all-or-nothing at GitHub (docs/github-facts.md C4): if it still answers 422, try
    once with single-line comments on added lines only, then give up on inline comments; the
    summary carries every finding either way.
    """
    repo, number = analysis.repo_full_name, analysis.pr_number
    wanted = [f for f in analysis.result.findings if _inline_worthy(f)]
    if not wanted:
        return
    # Only Prism's own comments count: a finding's fingerprint can be computed in advance,
    # and anyone's comment carrying it must not silence the finding.
    me = github.authenticated_login()
    already = {
        mark
        for c in github.list_review_comments(repo, number)
        if c.author == me
        for mark in FINGERPRINT.findall(c.body)
    }
    fresh = [f for f in wanted if f.fingerprint not in already]
    if not fresh:
        return
    body = (
        f"Prism found {len(fresh)} issue{'s' if len(fresh) != 1 else ''} on changed lines; "
        "the summary comment has the whole review."
    )
    comments = [inline_comment(f, analysis) for f in fresh]
    try:
        github.create_review(
            repo, number, commit_id=analysis.head_sha, body=body, comments=comments
        )
    except GitHubError as exc:
        if exc.status != 422:
            raise
        single = [inline_comment(f, analysis, multi_line=False) for f in fresh]
        logger.warning(
            "inline review rejected (422), retrying single-line analysis_id=%s", analysis.id
        )
        github.create_review(repo, number, commit_id=analysis.head_sha, body=body, comments=single)


def inline_comment(
    finding: Finding, analysis: Analysis, *, multi_line: bool = True
) -> dict[str, Any]:
    body = render.render_inline(finding, ctx=comment_context(analysis))
    comment: dict[str, Any] = {
        "path": finding.path,
        "line": finding.line,
        "side": "RIGHT",
        "body": f"{body}\n\n<!-- prism:finding:{finding.fingerprint} -->",
    }
    if multi_line and finding.end_line:
        comment.update(start_line=finding.line, start_side="RIGHT", line=finding.end_line)
    return comment


def _inline_worthy(finding: Finding) -> bool:
    return finding.anchored and finding.at_least(settings.INLINE_MIN_SEVERITY)


def final_status(result: ReviewResult) -> tuple[str, str]:
    threshold = settings.FAIL_ON_SEVERITY
    if threshold != "never":
        blocking = [f for f in result.findings if f.at_least(threshold)]
        if blocking:
            return "failure", f"{len(blocking)} finding(s) at {threshold} severity or above"
    coverage = result.coverage
    return "success", (
        f"{len(result.findings)} finding(s); reviewed {coverage.files_reviewed} of "
        f"{coverage.files_total} files"
    )


def _set_status(
    analysis: Analysis,
    github: GitHubClient,
    state: str,
    description: str,
    target_url: str | None = None,
) -> None:
    github.create_commit_status(
        analysis.repo_full_name,
        analysis.head_sha,
        state=state,
        description=description,
        context=STATUS_CONTEXT,
        target_url=target_url,
    )


def _attempt(errors: list[str], what: str, action: Any, *args: Any) -> Any:
    """Run one publishing step; a GitHub failure is recorded, not raised."""
    try:
        return action(*args)
    except GitHubError as exc:
        logger.warning("publishing %s failed analysis_id=%s: %s", what, args[0].id, exc)
        errors.append(f"{what}: {exc}")
        return None
