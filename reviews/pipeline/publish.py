"""What the pull request shows: one sticky summary comment, inline comments, a commit status.

Publishing never changes a review's outcome: a failure to post keeps the analysis
completed with its findings and records `comment_error`, which `repost_comment` retries.
"""

import logging
import random
import re
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from reviews import clients, ledger, selectors, services
from reviews.comments import render
from reviews.github.client import GitHubClient, GitHubError
from reviews.github.resources import Comment
from reviews.models import Analysis, Finding, StickyComment
from reviews.pipeline import threads
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
        _attempt(errors, "review threads", tidy_threads, analysis, github)
    if settings.POST_COMMIT_STATUS:
        state, description = final_status(
            analysis.result,
            selectors.standing_of(analysis),
            threshold=analysis.policy.get("fail_on_severity") or settings.FAIL_ON_SEVERITY,
        )
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


def report_not_reviewed(analysis: Analysis, github: GitHubClient, description: str) -> None:
    """A head Prism deliberately did not review (a push with REVIEW_ON_PUSH=off).

    The status is `error`, never `success` nor a `pending` that reads as "still working".
    The summary comment is left as it is: it names the commit it reviewed.
    """
    if settings.POST_COMMIT_STATUS:
        _attempt([], "not-reviewed status", _set_status, analysis, github, "error", description)


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
    return render.CommentContext(
        analysis_id=analysis.id, pull_request=analysis.pull_request, policy=analysis.policy
    )


def post_summary(analysis: Analysis, github: GitHubClient) -> Comment | None:
    standing = selectors.standing_of(analysis)
    body = render.render_review(analysis.result, comment_context(analysis), standing)
    return _write_sticky(analysis, github, body)


def _write_sticky(analysis: Analysis, github: GitHubClient, body: str) -> Comment | None:
    """Create or edit Prism's one comment on the pull request, newest review winning.

    Publishing to one pull request's comment is serialised by a lease on its StickyComment
    row, so two reviews cannot both decide to create a comment. No transaction is open while
    GitHub is called: claiming, renewing, recording and releasing the lease are each one
    short UPDATE, so a slow GitHub never holds up the webhook's writes (on SQLite a reader's
    open transaction would block every writer).
    """
    repo, number = analysis.repo_full_name, analysis.pr_number
    row, _ = StickyComment.objects.get_or_create(repo_full_name=repo, pr_number=number)
    lease = _StickyLease(row.pk, analysis.id)
    sticky = lease.acquire()
    if sticky is None:
        logger.info("a newer review is already shown analysis_id=%s", analysis.id)
        return None
    try:
        # Decided under the lease: nobody can record a newer review until it is released.
        if sticky.analysis_id and sticky.analysis_id > analysis.id:
            logger.info("a newer review is already shown analysis_id=%s", analysis.id)
            return None
        comment = None
        if sticky.comment_id:
            lease.renew()
            comment = _edit(github, repo, sticky.comment_id, body)
        if comment is None:
            lease.renew()
            existing = _find_marked_comment(github, repo, number)
            lease.renew()
            comment = (
                _edit(github, repo, existing.id, body)
                if existing
                else github.create_issue_comment(repo, number, body)
            )
        if comment is None:  # the marked comment vanished between listing and editing
            lease.renew()
            comment = github.create_issue_comment(repo, number, body)
        lease.record(comment, analysis)
        return comment
    finally:
        lease.release()


class StickyBusy(Exception):
    """The pull request's comment could not be published to under a lease; nothing was lost.

    Recorded as the review's `comment_error` (like a GitHub failure), so the operator can
    re-post it with `manage.py repost_comment`.
    """


# A waiting publisher polls the lease at these intervals (doubling, with jitter).
_POLL_FIRST_SECONDS = 0.05
_POLL_MAX_SECONDS = 1.0
# Indirection so tests can drive the waiting without real time passing.
_sleep = time.sleep
_monotonic = time.monotonic


class _StickyLease:
    """The right to publish to one StickyComment, held by one publishing attempt.

    Claimed with a conditional UPDATE (free, or expired: its holder died), renewed before
    every GitHub call, checked when the result is recorded, released in `finally`. Every
    statement commits on its own; none spans a network call.
    """

    def __init__(self, sticky_id: int, analysis_id: int) -> None:
        self.sticky_id = sticky_id
        self.analysis_id = analysis_id
        self.owner = f"{analysis_id}:{uuid.uuid4().hex[:16]}"

    def acquire(self) -> StickyComment | None:
        """Claim the lease, waiting a bounded time for a live holder to let go.

        Returns the row as read under the lease, or None (without the lease) once a newer
        review than ours is shown: waiting longer could not change that. Raises StickyBusy
        when the holder keeps the lease past PUBLISH_WAIT_SECONDS.
        """
        deadline = _monotonic() + settings.PUBLISH_WAIT_SECONDS
        delay = _POLL_FIRST_SECONDS
        while True:
            if self._claim():
                return StickyComment.objects.get(pk=self.sticky_id)
            holder = (
                StickyComment.objects.filter(pk=self.sticky_id)
                .values("analysis_id", "lease_owner")
                .get()
            )
            if holder["analysis_id"] and holder["analysis_id"] > self.analysis_id:
                return None
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise StickyBusy(
                    f"another review of this pull request (lease {holder['lease_owner']!r}) "
                    f"was still posting after {settings.PUBLISH_WAIT_SECONDS} s; "
                    "not posted, re-post this review if it is the newest"
                )
            _sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
            delay = min(_POLL_MAX_SECONDS, delay * 2)

    def _claim(self) -> bool:
        now = timezone.now()
        free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        claimed = StickyComment.objects.filter(free, pk=self.sticky_id).update(
            lease_owner=self.owner, lease_expires_at=self._expiry(now)
        )
        return claimed == 1

    def renew(self) -> None:
        """Extend the lease before a GitHub call; StickyBusy if it was taken over meanwhile."""
        if not self._mine().update(lease_expires_at=self._expiry(timezone.now())):
            raise self._lost()

    def record(self, comment: Comment, analysis: Analysis) -> None:
        now = timezone.now()
        recorded = self._mine().update(
            comment_id=comment.id,
            comment_url=comment.html_url,
            analysis=analysis,
            updated_at=now,
        )
        if not recorded:
            # Our comment is on GitHub, but someone else now owns the record: theirs stands.
            raise self._lost()

    def release(self) -> None:
        self._mine().update(lease_owner="", lease_expires_at=None)

    def _mine(self) -> QuerySet[StickyComment]:
        return StickyComment.objects.filter(pk=self.sticky_id, lease_owner=self.owner)

    def _lost(self) -> StickyBusy:
        logger.warning(
            "publishing lease lost analysis_id=%s sticky_id=%s", self.analysis_id, self.sticky_id
        )
        return StickyBusy(
            f"held the pull request's comment longer than {settings.PUBLISH_LEASE_SECONDS} s "
            "and another review took it over; re-post this review if it is the newest"
        )

    @staticmethod
    def _expiry(now: datetime) -> datetime:
        return now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS)


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
    """Run one publishing step; a GitHub failure (or a busy comment) is recorded, not raised."""
    try:
        return action(*args)
    except (GitHubError, StickyBusy) as exc:
        logger.warning("publishing %s failed analysis_id=%s: %s", what, args[0].id, exc)
        errors.append(f"{what}: {exc}")
        return None
