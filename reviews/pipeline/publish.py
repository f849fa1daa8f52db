"""What the pull request shows: one sticky summary comment, inline comments, a commit status,
and in App mode a check run (reviews/pipeline/checks.py).

Publishing never changes a review's outcome: a failure to post keeps the analysis
completed with its findings and records `comment_error`, which `repost_comment` retries.
"""

import logging
import re
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from reviews import clients, ledger, selectors, services
from reviews.commands import names
from reviews.comments import check_run as check_texts
from reviews.comments import render
from reviews.github.client import GitHubClient, GitHubError, RateLimited
from reviews.github.resources import Comment
from reviews.models import Analysis, Finding, StickyComment
from reviews.pipeline import checks, sticky, threads
from reviews.results import (
    SEVERITY_RANK,
    ReviewResult,
    Standing,
    finding_fingerprint,
    severities_at_least,
)
from reviews.results import Finding as ResultFinding

logger = logging.getLogger(__name__)

STATUS_CONTEXT = "prism/review"
FINGERPRINT = re.compile(r"<!-- prism:finding:([0-9a-f]{16}) -->")


def publish_review(analysis_id: int, github: GitHubClient, *, resume: bool = False) -> bool:
    """Post a completed review. True when everything it meant to post was posted.

    Raises RateLimited when GitHub's limit for the token stops it part way: the caller posts
    it again later (reviews/pipeline/deferred.py) with `resume`, which spends no write on a
    summary comment already showing this review; inline comments are never posted twice.
    """
    analysis = Analysis.objects.get(id=analysis_id)
    if analysis.status != Analysis.Status.COMPLETED:
        logger.info("not publishing analysis_id=%s status=%s", analysis.id, analysis.status)
        return False
    errors: list[str] = []
    comment = _shown(analysis) if resume else None
    if comment is None:
        comment = _attempt(errors, "summary comment", post_summary, analysis, github, limits=True)
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
        _attempt(errors, "inline comments", post_inline_comments, analysis, github, limits=True)
        # Best effort even at the rate limit: threads left open are tidied on the next push.
        _attempt(errors, "review threads", tidy_threads, analysis, github)
    if settings.POST_COMMIT_STATUS:
        state, description = final_status(
            shown_result(analysis),
            selectors.standing_of(analysis),
            threshold=analysis.policy.get("fail_on_severity") or settings.FAIL_ON_SEVERITY,
        )
        target = comment.html_url if comment else None
        _attempt(
            errors,
            "commit status",
            _set_status,
            analysis,
            github,
            state,
            description,
            target,
            limits=True,
        )
    if checks.enabled():
        standing = selectors.standing_of(analysis)
        url = comment.html_url if comment else ""
        shown = shown_result(analysis)
        # At the rate limit the whole posting is done later, as for the status: a skipped
        # completion would leave the check in progress for good.
        _attempt(
            errors,
            "check run",
            checks.complete,
            analysis,
            github,
            standing,
            url,
            shown,
            limits=True,
        )
    services.analysis_record_comment(
        analysis_id=analysis.id, comment=comment, error="; ".join(errors)
    )
    return not errors


def report_pending(analysis: Analysis, github: GitHubClient) -> None:
    """Tell the pull request a review is under way (best effort: a status is not the review)."""
    if settings.POST_COMMIT_STATUS:
        # Best effort: under a burst of reviews the token's writes go to results, not to this.
        _attempt(
            [], "pending status", _set_status, analysis, github, "pending", "Reviewing…", None, True
        )
    if checks.enabled():
        _attempt([], "check run", checks.start, analysis, github)


def report_not_reviewed(
    analysis: Analysis,
    github: GitHubClient,
    description: str,
    *,
    summary: str = "",
    comment: bool = False,
    status: bool = True,
) -> None:
    """A head Prism deliberately did not review (a push with REVIEW_ON_PUSH=off, a budget
    reached, the repository's policy).

    The status is `error` and the check run `neutral`, never `success` nor a `pending` that
    reads as "still working". The summary comment is left as it is (it names the commit it
    reviewed) unless `comment`: then it says this head was not reviewed, and why.
    """
    if status and settings.POST_COMMIT_STATUS:
        _attempt([], "not-reviewed status", _set_status, analysis, github, "error", description)
    if checks.enabled():
        _attempt([], "check run", checks.not_reviewed, analysis, github, description, summary)
    if comment:
        body = check_texts.render_not_reviewed(
            title=description,
            detail=summary,
            analysis_id=analysis.id,
            hosts=comment_context(analysis).hosts,
        )
        errors: list[str] = []
        posted = _attempt(errors, "summary comment", sticky.write, analysis, github, body)
        services.analysis_record_comment(
            analysis_id=analysis.id, comment=posted, error="; ".join(errors)
        )


def report_superseded(analysis_id: int, github: GitHubClient) -> None:
    """A review a newer push superseded while it ran: its check run, already in progress,
    ends neutral instead of spinning forever. (One taken over by another worker is left to
    that worker, which completes the same run.)"""
    analysis = Analysis.objects.get(id=analysis_id)
    if analysis.status == Analysis.Status.SUPERSEDED and analysis.check_run_id and checks.enabled():
        title = "Not reviewed: a newer push replaced this review"
        _attempt([], "check run", checks.not_reviewed, analysis, github, title, analysis.error)


def report_skipped_by_policy(analysis_id: int, github: GitHubClient) -> None:
    """The repository's policy skips this pull request: a neutral check says why (the commit
    status stays as it always was: none)."""
    analysis = Analysis.objects.get(id=analysis_id)
    report_not_reviewed(analysis, github, f"Not reviewed: {analysis.error}", status=False)


def report_failure(analysis_id: int, github: GitHubClient) -> None:
    """A review that could not run is reported as such, never as a success or a clean review.

    An existing Prism comment is replaced by the failure notice, so older findings are not
    mistaken for a review of this commit; no new comment is added just to say so.
    """
    analysis = Analysis.objects.get(id=analysis_id)
    if settings.POST_COMMIT_STATUS:
        _attempt([], "error status", _set_status, analysis, github, "error", "Review failed")
    if checks.enabled():
        title = "Not reviewed: the review failed"
        _attempt([], "check run", checks.not_reviewed, analysis, github, title, analysis.error)
    shown = StickyComment.objects.filter(
        repo_full_name=analysis.repo_full_name, pr_number=analysis.pr_number
    ).first()
    if shown and shown.comment_id:
        body = render.render_failure(error=analysis.error, ctx=comment_context(analysis))
        _attempt([], "failure notice", sticky.write, analysis, github, body)


def repost_comment(analysis_id: int, github: GitHubClient | None = None) -> bool:
    """Post a completed review again (after `comment_error`): `manage.py repost_comment`.

    An operator's action: GitHub's rate limit is reported for them to try again, not queued.
    """
    if github is None:
        analysis = Analysis.objects.get(id=analysis_id)
        github = clients.github_client_for(analysis.repo_full_name, analysis.installation_id)
    # GitHub appends each update's annotations to a run's: a new run, not the same ones twice.
    services.analysis_record_check_run(analysis_id=analysis_id, check_run_id=None)
    try:
        return publish_review(analysis_id, github)
    except RateLimited as exc:
        services.analysis_record_comment(
            analysis_id=analysis_id,
            comment=None,
            error=f"GitHub's rate limit: try again in {exc.retry_after or 60:.0f} s ({exc})",
        )
        return False


def comment_context(analysis: Analysis) -> render.CommentContext:
    return render.CommentContext(
        analysis_id=analysis.id,
        pull_request=analysis.pull_request,
        policy=analysis.policy,
        finding_ids=finding_ids(analysis),
        bot_name=names.shown(),
    )


def shown_result(analysis: Analysis) -> ReviewResult:
    """The review as the pull request shows it now: without the findings dismissed since
    (`@prism dismiss`). A later push's comment lists the ledger's open findings anyway."""
    dismissed = set(
        Finding.objects.filter(
            repo_full_name=analysis.repo_full_name,
            pr_number=analysis.pr_number,
            state=Finding.State.DISMISSED,
        ).values_list("id", flat=True)
    )
    result = analysis.result
    if not dismissed:
        return result
    ids = finding_ids(analysis)
    kept = tuple(f for f in result.findings if ids.get(f.fingerprint) not in dismissed)
    return replace(result, findings=kept)


def finding_ids(analysis: Analysis) -> dict[str, int]:
    """Each ledger finding's id by fingerprint, for the comment to show.

    A review's stored findings carry no anchor text, so they are known by the fingerprint
    without it too; one such fingerprint shared by two findings (same file, kind and title)
    names neither, rather than show one finding's id beside the other.
    """
    rows = Finding.objects.filter(
        repo_full_name=analysis.repo_full_name, pr_number=analysis.pr_number
    ).values_list("id", "fingerprint", "path", "category", "title")
    ids = {fingerprint: pk for pk, fingerprint, *_ in rows}
    plain: dict[str, int | None] = {}
    for pk, _, path, category, title in rows:
        key = finding_fingerprint(path, category, title)
        plain[key] = None if key in plain else pk
    ids.update((key, pk) for key, pk in plain.items() if pk is not None and key not in ids)
    return ids


def _shown(analysis: Analysis) -> Comment | None:
    """The pull request's summary comment, if it already shows this very review."""
    row = StickyComment.objects.filter(
        repo_full_name=analysis.repo_full_name,
        pr_number=analysis.pr_number,
        analysis_id=analysis.id,
        comment_id__isnull=False,
    ).first()
    if row is None or row.comment_id is None:
        return None
    return Comment(id=row.comment_id, body="", html_url=row.comment_url, author="")


def post_summary(analysis: Analysis, github: GitHubClient) -> Comment | None:
    standing = selectors.standing_of(analysis)
    body = render.render_review(shown_result(analysis), comment_context(analysis), standing)
    return sticky.write(analysis, github, body)


def post_inline_comments(analysis: Analysis, github: GitHubClient) -> None:
    """One COMMENT review holding a comment per ledger finding not yet posted on the PR.

    What is posted comes from the ledger, not the review's JSON: the open findings of this pull
    request this review reported, anchored, severe enough, with no inline comment yet. A finding
    is never posted twice on one pull request: one already carrying a comment id is skipped,
    and so is one whose marker is in Prism's own comments (a comment posted before its id was
    read back). After posting, Prism's comments are read back and each id stored.

    A review is all-or-nothing at GitHub (docs/github-facts.md C4): if it still answers 422, try
    once with single-line comments on added lines only, then give up on inline comments; the
    summary carries every finding either way.
    """
    repo, number = analysis.repo_full_name, analysis.pr_number
    wanted = list(_unposted(analysis))
    cap = analysis.policy.get("max_inline_comments")
    if isinstance(cap, int) and len(wanted) > cap:
        # The repository's max_inline_comments: the most severe first; the summary has all.
        kept = sorted(wanted, key=lambda row: -SEVERITY_RANK[row.severity])[:cap]
        wanted = [row for row in wanted if row in kept]
    if not wanted:
        return
    # Only Prism's own comments count: a finding's fingerprint can be computed in advance,
    # and anyone's comment carrying it must not silence the finding.
    posted = _posted_markers(github, repo, number)
    _record_comment_ids(wanted, posted)
    fresh = [row for row in wanted if not _marks(row) & posted.keys()]
    if not fresh:
        return
    body = (
        f"Prism found {len(fresh)} issue{'s' if len(fresh) != 1 else ''} on changed lines; "
        "the summary comment has the whole review."
    )
    comments = [inline_comment(row.as_result(), analysis, row.fingerprint) for row in fresh]
    try:
        github.create_review(
            repo, number, commit_id=analysis.head_sha, body=body, comments=comments
        )
    except GitHubError as exc:
        if exc.status != 422:
            raise
        single = [
            inline_comment(row.as_result(), analysis, row.fingerprint, multi_line=False)
            for row in fresh
        ]
        logger.warning(
            "inline review rejected (422), retrying single-line analysis_id=%s", analysis.id
        )
        github.create_review(repo, number, commit_id=analysis.head_sha, body=body, comments=single)
    _record_comment_ids(fresh, _posted_markers(github, repo, number))


def tidy_threads(analysis: Analysis, github: GitHubClient) -> None:
    """Resolve Prism's own threads whose finding is gone, and remember each thread's id.

    Best effort: a GraphQL failure is recorded and the threads left open are tidied on the
    next push; it never changes the review's outcome. Only after a review that read the whole
    diff: findings it did not read would look fixed.
    """
    rows = Finding.objects.filter(
        repo_full_name=analysis.repo_full_name, pr_number=analysis.pr_number
    )
    outcome = threads.resolve_outdated_threads(
        github,
        analysis.repo_full_name,
        analysis.pr_number,
        prism_login=github.authenticated_login(),
        states=dict(rows.values_list("fingerprint", "state")),
        # Open after this review (raised, or carried forward untouched): never resolved.
        raised_now=set(
            rows.filter(analyses=analysis, state=Finding.State.OPEN).values_list(
                "fingerprint", flat=True
            )
        ),
        review_completed=analysis.result.coverage.complete,
    )
    ledger.findings_record_threads(analysis=analysis, thread_ids=outcome.thread_ids)
    if outcome.error:
        raise GitHubError(outcome.error, permanent=False)


def _unposted(analysis: Analysis) -> QuerySet[Finding]:
    return Finding.objects.filter(
        repo_full_name=analysis.repo_full_name,
        pr_number=analysis.pr_number,
        analyses=analysis,
        state=Finding.State.OPEN,
        anchored=True,
        review_comment_id__isnull=True,
        severity__in=severities_at_least(
            analysis.policy.get("inline_min_severity") or settings.INLINE_MIN_SEVERITY
        ),
    ).order_by("id")


def _posted_markers(github: GitHubClient, repo: str, number: int) -> dict[str, int]:
    """Fingerprint -> id of Prism's own inline comment carrying its marker."""
    me = github.authenticated_login()
    return {
        mark: comment.id
        for comment in github.list_review_comments(repo, number)
        if comment.author == me
        for mark in FINGERPRINT.findall(comment.body)
    }


def _marks(row: Finding) -> set[str]:
    """The markers a posted comment of this finding may carry: its fingerprint, or the one
    without anchor text that versions before the ledger wrote."""
    return {row.fingerprint, finding_fingerprint(row.path, row.category, row.title)}


def _record_comment_ids(rows: list[Finding], posted: dict[str, int]) -> None:
    for row in rows:
        comment_id = next((posted[mark] for mark in _marks(row) if mark in posted), None)
        if comment_id is not None:
            Finding.objects.filter(pk=row.pk, review_comment_id__isnull=True).update(
                review_comment_id=comment_id
            )


def inline_comment(
    finding: ResultFinding, analysis: Analysis, fingerprint: str, *, multi_line: bool = True
) -> dict[str, Any]:
    body = render.render_inline(finding, ctx=comment_context(analysis))
    comment: dict[str, Any] = {
        "path": finding.path,
        "line": finding.line,
        "side": "RIGHT",
        "body": f"{body}\n\n<!-- prism:finding:{fingerprint} -->",
    }
    if multi_line and finding.end_line:
        comment.update(start_line=finding.line, start_side="RIGHT", line=finding.end_line)
    return comment


def final_status(
    result: ReviewResult, standing: Standing | None = None, *, threshold: str = ""
) -> tuple[str, str]:
    """The commit status: every open finding counts, not only the ones this push raised.

    `threshold`: the repository policy's fail_on_severity; else FAIL_ON_SEVERITY.
    """
    found = standing.open if standing else result.findings
    threshold = threshold or settings.FAIL_ON_SEVERITY
    if threshold != "never":
        blocking = [f for f in found if f.at_least(threshold)]
        if blocking:
            return "failure", f"{len(blocking)} finding(s) at {threshold} severity or above"
    coverage = result.coverage
    return "success", (
        f"{len(found)} finding(s); reviewed {coverage.files_reviewed} of "
        f"{coverage.files_total} files"
    )


def _set_status(
    analysis: Analysis,
    github: GitHubClient,
    state: str,
    description: str,
    target_url: str | None = None,
    best_effort: bool = False,
) -> None:
    github.create_commit_status(
        analysis.repo_full_name,
        analysis.head_sha,
        state=state,
        description=description,
        context=STATUS_CONTEXT,
        target_url=target_url,
        best_effort=best_effort,
    )


def _attempt(errors: list[str], what: str, action: Any, *args: Any, limits: bool = False) -> Any:
    """Run one publishing step; a GitHub failure (or a busy comment) is recorded, not raised.

    `limits`: GitHub's rate limit (RateLimited) is raised instead, so the whole posting is
    done later rather than recorded as failed.
    """
    try:
        return action(*args)
    except RateLimited:
        if limits:
            raise
        logger.info("publishing %s skipped by GitHub's rate limit analysis_id=%s", what, args[0].id)
        return None
    except (GitHubError, sticky.StickyBusy) as exc:
        logger.warning("publishing %s failed analysis_id=%s: %s", what, args[0].id, exc)
        errors.append(f"{what}: {exc}")
        return None
