"""Every write to an Analysis, in one place.

State changes are conditional UPDATEs checked by their row count, so two processes
racing on one review (a redelivered task, a sweep, a second worker) never both win.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from reviews import metrics
from reviews.github.resources import PullRequest
from reviews.leases import Claim, savepoint
from reviews.models import Analysis
from reviews.results import ReviewResult, Usage
from reviews.scrub import scrub, scrub_json

logger = logging.getLogger(__name__)

Status = Analysis.Status
FINISHED = (Status.COMPLETED, Status.FAILED, Status.SKIPPED, Status.SUPERSEDED)
# The reviews that make another automatic review of the same head pointless.
ACTIVE = (Status.QUEUED, Status.RUNNING, Status.COMPLETED)


@dataclass(frozen=True)
class Recorded:
    analysis_id: int  # the review that answers this delivery
    queued: bool  # False: a duplicate delivery, or a head already reviewed; nothing new to do


def analysis_create(
    *,
    pull_request: PullRequest,
    event: str,
    action: str,
    delivery_id: str | None = None,
    rerun_of: Analysis | None = None,
    publish: bool = True,
    skipped: str = "",
    installation_id: int | None = None,
) -> Analysis:
    """The one way an analysis comes to be: a delivery, a re-run, or an operator's command.

    It is created as dispatched (reviews/dispatch.py): the caller dispatches it right after
    commit, and clears that if the broker refuses. One created `skipped` (with the reason)
    only records a delivery; nothing dispatches it.
    """
    now = timezone.now()
    return Analysis.objects.create(
        delivery_id=delivery_id,
        event=event,
        action=action,
        repo_full_name=pull_request.repo_full_name[:200],
        pr_number=pull_request.number,
        pr_title=pull_request.title[:500],
        pr_url=pull_request.html_url[:500],
        pr_author=pull_request.author[:100],
        head_sha=pull_request.head_sha,
        base_sha=pull_request.base_sha,
        rerun_of=rerun_of,
        publish=publish,
        installation_id=installation_id,
        status=Status.SKIPPED if skipped else Status.QUEUED,
        error=skipped,
        finished_at=now if skipped else None,
        dispatched_at=None if skipped else now,
    )


def analysis_record_delivery(
    *,
    delivery_id: str,
    event: str,
    action: str,
    pull_request: PullRequest,
    installation_id: int | None = None,
) -> Recorded:
    """Store a delivery that asks for a review, exactly once per delivery id.

    GitHub's manual redelivery reuses the delivery id (docs/github-facts.md W5): a redelivery of a
    delivery whose review failed queues that review again instead of being swallowed.
    A delivery for a head that already has a queued, running or completed automatic review
    is recorded as skipped and answered with that review: the delivery id is not signed,
    so a replayed delivery must not buy another billed review.
    """
    # Outside a transaction the INSERT commits by itself: one round trip on the webhook's hot
    # path instead of three. Inside one (a caller's, or a test's), a savepoint keeps it
    # usable after a duplicate key.
    for _ in range(3):  # each pass loses at most one race; a third is not expected
        try:
            with savepoint():
                analysis = analysis_create(
                    pull_request=pull_request,
                    event=event,
                    action=action,
                    delivery_id=delivery_id,
                    installation_id=installation_id,
                )
            return Recorded(analysis_id=analysis.id, queued=True)
        except IntegrityError:
            pass
        existing = Analysis.objects.filter(delivery_id=delivery_id).values_list("id", flat=True)
        analysis_id = existing.first()
        if analysis_id is not None:
            requeued = analysis_requeue_failed(analysis_id=analysis_id)
            return Recorded(analysis_id=analysis_id, queued=requeued)
        active = _active_review_of_head(event=event, pull_request=pull_request)
        if active is None:
            continue  # the review holding the head failed meanwhile: this one may run
        try:
            with savepoint():
                analysis_create(
                    pull_request=pull_request,
                    event=event,
                    action=action,
                    delivery_id=delivery_id,
                    installation_id=installation_id,
                    skipped=f"Head {pull_request.head_sha[:12]} is already reviewed by "
                    f"analysis #{active}.",
                )
        except IntegrityError:
            pass  # a copy of this very delivery recorded it first
        return Recorded(analysis_id=active, queued=False)
    raise IntegrityError(f"could not record delivery {delivery_id}")


def _active_review_of_head(*, event: str, pull_request: PullRequest) -> int | None:
    return (
        Analysis.objects.filter(
            repo_full_name=pull_request.repo_full_name,
            pr_number=pull_request.number,
            head_sha=pull_request.head_sha,
            event=event,
            rerun_of__isnull=True,
            status__in=ACTIVE,
        )
        .values_list("id", flat=True)
        .first()
    )


def analysis_requeue_failed(*, analysis_id: int) -> bool:
    """Move a failed analysis back to queued for a fresh attempt; False if it was not failed,
    or if another review of its head is already queued, running or completed."""
    try:
        with transaction.atomic():
            return Analysis.objects.requeue_failed(analysis_id, raw_output="")
    except IntegrityError:  # one_automatic_review_per_head
        return False


def analysis_mark_dispatched(*, analysis_id: int, dispatched: bool) -> None:
    Analysis.objects.mark_dispatched(analysis_id, dispatched=dispatched)


def analysis_claim(*, analysis_id: int) -> Claim:
    """Take a review for this worker (reviews/leases.py). One whose workers kept dying is
    failed after REVIEW_MAX_ATTEMPTS, so a pull request that kills its worker cannot be
    redelivered forever."""
    claim = Analysis.objects.claim(
        analysis_id,
        exhausted_error=(
            f"The review was interrupted {settings.REVIEW_MAX_ATTEMPTS} times "
            "(its worker stopped or was killed mid-review); giving up. "
            "Re-run it once the cause is fixed."
        ),
    )
    if claim is Claim.EXHAUSTED:
        _observe_finished(analysis_id, Status.FAILED)
    return claim


def spend(usage: Usage | None) -> dict[str, Any]:
    """UPDATE fields adding one attempt's model usage to what the analysis already spent.

    Spend accumulates on the row over every attempt (a retried, a failed, a completed one), so
    no answered call goes unrecorded whatever the outcome.
    """
    if usage is None or not (usage.calls or usage.tokens or usage.cost):
        return {}
    fields: dict[str, Any] = {
        "prompt_tokens": F("prompt_tokens") + usage.prompt_tokens,
        "completion_tokens": F("completion_tokens") + usage.completion_tokens,
    }
    if usage.cost is not None:
        fields["cost"] = Coalesce(F("cost"), Decimal(0)) + Decimal(str(round(usage.cost, 6)))
    if usage.model:
        fields["llm_model"] = scrub(usage.model)[:200]
    return fields


def analysis_release(
    *, analysis_id: int, error: str, retry_in: float = 0, usage: Usage | None = None
) -> None:
    """Hand a claimed review back to the queue before a retry, keeping why it stopped and
    what its model calls cost."""
    Analysis.objects.release(analysis_id, error=error, retry_in=retry_in, **spend(usage))


def analysis_finish(*, analysis_id: int, status: str, error: str = "", **fields: Any) -> bool:
    """Record the end of a running review. False if it was no longer running (lost lease)."""
    if status not in FINISHED:
        raise ValueError(f"{status!r} is not a finished status")
    finished = Analysis.objects.finish(analysis_id, status=status, error=error, **fields)
    if finished:
        _observe_finished(analysis_id, status)
    return finished


def analysis_fail(
    *, analysis_id: int, error: str, raw_output: str = "", usage: Usage | None = None
) -> bool:
    """Fail a review that is not finished yet, whatever state it is in, keeping what the
    model calls it made cost."""
    failed = Analysis.objects.fail(
        analysis_id, error=error, raw_output=scrub(raw_output), **spend(usage)
    )
    if failed:
        _observe_finished(analysis_id, Status.FAILED)
    return failed


def _observe_finished(analysis_id: int, status: str) -> None:
    """The metrics of a review that just reached its final status: how long it ran (since
    its last claim) and how long its author waited (since it was created)."""
    times = (
        Analysis.objects.filter(id=analysis_id)
        .values_list("created_at", "started_at", "finished_at")
        .first()
    )
    if times is None:
        return
    created, started, finished = times
    if finished is None:
        return
    metrics.observe_review_finished(
        status=str(status),
        run_seconds=(finished - started).total_seconds() if started else None,
        wait_seconds=(finished - created).total_seconds(),
    )


def analyses_needing_dispatch(*, now: Any = None) -> list[int]:
    """Reviews the broker may not have: never accepted, lost, or held by a dead worker."""
    return Analysis.objects.needing_dispatch(now=now)


def analysis_rerun(*, analysis: Analysis, delivery_id: str | None = None) -> Analysis:
    """A fresh review of the same pull request, recording which analysis it re-runs.

    The one re-run path behind the admin action, the API, `rerun_review` and the check run's
    "Re-run review" (with its delivery id). The caller dispatches the new id after commit
    (see `tasks.dispatch_review`).
    """
    return analysis_create(
        pull_request=analysis.pull_request,
        event=analysis.event,
        action="rerun",
        rerun_of=analysis,
        delivery_id=delivery_id,
        installation_id=analysis.installation_id,
    )


def analysis_record_rerun_request(
    *, delivery_id: str, analysis_id: int, repo_full_name: str, check_run_id: int
) -> Recorded | None:
    """A re-run asked for on Prism's check run (`check_run` rerequested or requested_action),
    exactly once per delivery id. None when the check run is not one of Prism's reviews: its
    `external_id` must name an analysis of that repository that created this very run.

    While a re-run of the same head is queued or running, another request is answered with
    it: the delivery id is not signed, so a replayed delivery must not buy a review each time.
    """
    original = Analysis.objects.filter(
        id=analysis_id, repo_full_name__iexact=repo_full_name, check_run_id=check_run_id
    ).first()
    if original is None:
        return None
    existing = Analysis.objects.filter(delivery_id=delivery_id).values_list("id", flat=True)
    if (known := existing.first()) is not None:
        return Recorded(analysis_id=known, queued=False)
    pending = (
        Analysis.objects.filter(
            repo_full_name=original.repo_full_name,
            pr_number=original.pr_number,
            head_sha=original.head_sha,
            rerun_of__isnull=False,
            status__in=(Status.QUEUED, Status.RUNNING),
        )
        .values_list("id", flat=True)
        .first()
    )
    if pending is not None:
        return Recorded(analysis_id=pending, queued=False)
    try:
        with transaction.atomic():
            rerun = analysis_rerun(analysis=original, delivery_id=delivery_id)
    except IntegrityError:  # a copy of this very delivery recorded it first
        first = Analysis.objects.filter(delivery_id=delivery_id).values_list("id", flat=True)
        return Recorded(analysis_id=first.get(), queued=False)
    return Recorded(analysis_id=rerun.id, queued=True)


def analysis_record_check_run(*, analysis_id: int, check_run_id: int | None) -> None:
    """The check run a review created on GitHub, completed when the review ends (None: the
    next publication creates a new one)."""
    Analysis.objects.filter(id=analysis_id).update(check_run_id=check_run_id)


def analysis_reserve_cost(*, analysis_id: int, estimate: Decimal) -> bool:
    """Set what this attempt's model calls are estimated to cost, counted against the budgets
    while the review runs (reviews/budgets.py). False if it is no longer running."""
    return bool(
        Analysis.objects.filter(id=analysis_id, status=Status.RUNNING).update(
            cost_estimate=estimate
        )
    )


def analysis_supersede_older(*, analysis: Analysis) -> int:
    """Supersede earlier reviews of the same pull request at another head; they never post."""
    superseded = (
        Analysis.objects.filter(
            repo_full_name=analysis.repo_full_name,
            pr_number=analysis.pr_number,
            status__in=(Status.QUEUED, Status.RUNNING),
            id__lt=analysis.id,
        )
        .exclude(head_sha=analysis.head_sha)
        .update(
            status=Status.SUPERSEDED,
            error=f"Superseded by analysis #{analysis.id} of {analysis.head_sha[:12]}.",
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
    )
    metrics.observe_reviews_superseded(superseded)
    return superseded


def analysis_complete(*, analysis_id: int, result: ReviewResult) -> bool:
    """Store a finished review. False if it lost its claim meanwhile."""
    usage = result.usage
    return analysis_finish(
        analysis_id=analysis_id,
        status=Status.COMPLETED,
        feedback=scrub_json(result.to_json()),
        raw_output="",
        **{"llm_model": scrub(usage.model)[:200], **spend(usage)},
    )


def analysis_record_timing(*, analysis_id: int, step: str, seconds: float) -> None:
    """Add one step's duration to the stored feedback (the store step can't time itself)."""
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().only("feedback").get(id=analysis_id)
        analysis.feedback.setdefault("timings", {})[step] = round(seconds, 3)
        analysis.save(update_fields=["feedback"])


def analysis_record_policy(*, analysis_id: int, sha: str, record: dict[str, Any]) -> None:
    """The repository policy a review follows, stored before anything is asked of the model."""
    Analysis.objects.filter(id=analysis_id).update(policy_sha=sha, policy=record)


def analysis_record_comment(*, analysis_id: int, comment: Any, error: str) -> None:
    """Where the review was posted (a `github.Comment`, or None), and what failed to post."""
    fields: dict[str, Any] = {"comment_error": scrub(error)}
    if comment is not None:
        fields.update(comment_url=comment.html_url, comment_posted_at=timezone.now())
    Analysis.objects.filter(id=analysis_id).update(**fields)


# Posting that waits for GitHub's rate limit (reviews/pipeline/deferred.py). A completed
# review's `publish_due_at` is when its next posting attempt is due; an attempt under way
# holds it as a lease (PUBLISH_LEASE_SECONDS ahead), so only one posts at a time.
PUBLISH_EARLY_SECONDS = 2.0  # a broker may deliver a countdown message a little early
PUBLISH_GRACE_SECONDS = 60.0  # due this long ago with nothing running it: its message was lost


def analysis_defer_publish(*, analysis_id: int, retry_in: float, reason: str) -> None:
    """Posting stopped at GitHub's limit: due again in `retry_in` seconds, and the operator
    sees why the pull request does not show the review yet."""
    due = timezone.now() + timedelta(seconds=retry_in)
    Analysis.objects.filter(id=analysis_id, status=Status.COMPLETED).update(
        publish_due_at=due,
        comment_error=scrub(
            f"Waiting for GitHub's rate limit; posting again at {due:%H:%M:%S} UTC ({reason})"
        ),
    )


def analysis_claim_publish(*, analysis_id: int) -> bool:
    """Take a due posting attempt for this process; False if none is due or another holds it."""
    now = timezone.now()
    return bool(
        Analysis.objects.filter(
            id=analysis_id,
            status=Status.COMPLETED,
            publish_due_at__lte=now + timedelta(seconds=PUBLISH_EARLY_SECONDS),
        ).update(publish_due_at=now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS))
    )


def analysis_publish_done(*, analysis_id: int) -> None:
    Analysis.objects.filter(id=analysis_id).update(publish_due_at=None)


def analyses_needing_publish(*, now: Any = None) -> list[int]:
    """Completed reviews whose posting is overdue: its message was lost, or its poster died."""
    now = now or timezone.now()
    overdue = now - timedelta(seconds=PUBLISH_GRACE_SECONDS)
    return list(
        Analysis.objects.filter(status=Status.COMPLETED, publish_due_at__lt=overdue)
        .order_by("id")
        .values_list("id", flat=True)
    )
