"""Pushes: what the new commits changed since the last review, and how to review them.

A push after a completed review is reviewed incrementally when GitHub vouches that the new
head only adds commits on top of the reviewed one and the base did not move; otherwise in
full, with the reason said in the comment. REVIEW_ON_PUSH=off skips pushes altogether.
"""

import logging

from django.conf import settings

from reviews import policy, services
from reviews.diffs import incremental, parser
from reviews.github.client import GitHubClient, GitHubError
from reviews.github.resources import PullRequest
from reviews.models import Analysis
from reviews.pipeline import publish
from reviews.results import Scope

logger = logging.getLogger(__name__)


def is_push(analysis: Analysis) -> bool:
    """New commits on a pull request, as GitHub announced them (not a re-run, not an operator)."""
    return analysis.event == "pull_request" and analysis.action == "synchronize"


# How a review asked for with a command reads the pull request (reviews/pipeline/gate.py).
ASKED_FULL = "full"
ASKED_INCREMENTAL = "incremental"
ASKED_FULL_REASON = "a full review was asked for on the pull request"


def plan_review(
    github: GitHubClient,
    pr: PullRequest,
    previous: Analysis | None,
    *,
    on_push: str = "",
    asked: str = "",
) -> incremental.PushPlan | None:
    """How to review this head: None for a first review, else a full or incremental plan.

    GitHub's comparison is only asked for when the base did not move and REVIEW_ON_PUSH
    wants incremental reviews. A comparison GitHub refuses (the last reviewed head was
    force-pushed away and collected: 404) means a full review; a transient failure retries.
    """
    if previous is None:
        return None
    if asked == ASKED_FULL:
        return incremental.PushPlan(
            incremental.FULL,
            ASKED_FULL_REASON,
            last_reviewed_head=previous.head_sha,
            head=pr.head_sha,
        )
    if asked == ASKED_INCREMENTAL and (on_push or settings.REVIEW_ON_PUSH) == "off":
        on_push = "incremental"  # off stops pushes' reviews, not one a person asked for
    if (on_push or settings.REVIEW_ON_PUSH) == "full":
        return incremental.PushPlan(
            incremental.FULL,
            "REVIEW_ON_PUSH is full" if settings.REVIEW_ON_PUSH == "full" else "on_push is full",
            last_reviewed_head=previous.head_sha,
            head=pr.head_sha,
        )
    complete = not any(
        item.reason in INCOMPLETE_REASONS for item in previous.result.coverage.skipped
    )
    comparison = None
    if complete and previous.base_sha and previous.base_sha == pr.base_sha:
        try:
            comparison = github.compare(pr.repo_full_name, previous.head_sha, pr.head_sha)
        except GitHubError as exc:
            if not exc.permanent:
                raise
            logger.info("no comparison with the last review, reviewing in full: %s", exc)
    plan = incremental.plan_push(
        last_reviewed_head=previous.head_sha,
        last_reviewed_base=previous.base_sha,
        head=pr.head_sha,
        base=pr.base_sha,
        comparison=comparison,
        last_review_complete=complete,
    )
    logger.info(
        "push review pr=%s#%s mode=%s reason=%s",
        pr.repo_full_name,
        pr.number,
        plan.mode,
        plan.reason,
    )
    return plan


# Lines the last review should have read and did not: an incremental review would never
# read them, so it falls back to a full one.
INCOMPLETE_REASONS = frozenset({"over_call_budget", "model_error", "no_patch"})

PUSH_OFF = "REVIEW_ON_PUSH is off"


def off_reason(rules: policy.EffectivePolicy) -> str:
    if rules.on_push.source is policy.Source.REPOSITORY and rules.file is not None:
        return f"review.on_push is off in {rules.file.path}"
    return PUSH_OFF


def skip_push(analysis: Analysis, github: GitHubClient | None, reason: str = PUSH_OFF) -> None:
    """A push with REVIEW_ON_PUSH=off: skipped, and the head's status says not reviewed.

    Never `success`: a required prism/review check must not pass on commits nobody read.
    """
    if not services.analysis_finish(
        analysis_id=analysis.id, status=Analysis.Status.SKIPPED, error=reason
    ):
        return
    if github is not None:
        publish.report_not_reviewed(analysis, github, f"Not reviewed: {reason}")


def scope(plan: incremental.PushPlan | None, files: list[parser.FileDiff]) -> Scope | None:
    """What the footer says this review covered; None for a pull request's first review."""
    if plan is None:
        return None
    partial = plan.incremental  # only the hunks the new commits touched were read
    return Scope(
        mode=plan.mode,
        reason=plan.reason,
        base_sha=plan.last_reviewed_head,
        head_sha=plan.head,
        commits=plan.commits,
        files=plan.files if partial else len(files),
        lines=plan.lines if partial else sum(file.changed_lines for file in files),
        unchanged=sum(1 for f in files if f.path not in plan.changed_lines) if partial else 0,
    )
