"""Every write of the feedback reads: the closed delivery's row, its claim and outcome, and the
counts it stores on each finding.

A read is claimed, leased, released and dispatched as an analysis is (reviews/leases.py): a
redelivered task, a sweep and a second worker never both win.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from reviews.github.resources import PullRequest
from reviews.leases import Claim, savepoint
from reviews.models import FeedbackRead, Finding

Status = FeedbackRead.Status


@dataclass(frozen=True)
class Recorded:
    read_id: int
    queued: bool  # False: a redelivery of a delivery already read, or being read


def feedback_record_delivery(
    *, delivery_id: str, pull_request: PullRequest, merged: bool
) -> Recorded:
    """Store a `closed` delivery exactly once per delivery id.

    GitHub's redelivery reuses the delivery id (docs/github-facts.md W5): a redelivery of one
    whose read failed queues it again; any other is a duplicate. A pull request closed again
    after a reopen is a new delivery, so its reactions are read again.
    """
    try:
        with savepoint():
            read = FeedbackRead.objects.create(
                delivery_id=delivery_id,
                repo_full_name=pull_request.repo_full_name[:200],
                pr_number=pull_request.number,
                merged=merged,
                dispatched_at=timezone.now(),
            )
        return Recorded(read_id=read.id, queued=True)
    except IntegrityError:
        pass
    read_id = FeedbackRead.objects.values_list("id", flat=True).get(delivery_id=delivery_id)
    return Recorded(read_id=read_id, queued=feedback_requeue_failed(read_id=read_id))


def feedback_requeue_failed(*, read_id: int) -> bool:
    """A failed read queued for a fresh attempt; False if it had not failed."""
    return FeedbackRead.objects.requeue_failed(read_id)


def feedback_mark_dispatched(*, read_id: int, dispatched: bool) -> None:
    FeedbackRead.objects.mark_dispatched(read_id, dispatched=dispatched)


def feedback_claim(*, read_id: int) -> bool:
    """Take a read for this worker: queued, or running under a lease that expired (its
    worker died). One whose workers kept dying fails after REVIEW_MAX_ATTEMPTS."""
    claim = FeedbackRead.objects.claim(
        read_id,
        exhausted_error=f"Interrupted {settings.REVIEW_MAX_ATTEMPTS} times (its worker "
        "stopped); giving up. GitHub's redelivery of the closed event reads it again.",
    )
    return claim is Claim.CLAIMED


def feedback_release(*, read_id: int, error: str, retry_in: float) -> None:
    """Hand a claimed read back before a retry, keeping why it stopped and when it is due."""
    FeedbackRead.objects.release(read_id, error=error, retry_in=retry_in)


def feedback_finish(*, read_id: int, read: int, missing: int, error: str = "") -> bool:
    """The read is done: how many comments were read, how many not, and why not."""
    return FeedbackRead.objects.finish(
        read_id,
        status=Status.COMPLETED,
        error=error,
        comments_read=read,
        comments_missing=missing,
    )


def feedback_fail(*, read_id: int, error: str) -> bool:
    """The read could not finish; what it read before stays on the findings."""
    return FeedbackRead.objects.fail(read_id, error=error)


def feedback_reads_needing_dispatch(*, now: Any = None) -> list[int]:
    """Reads the broker may not have: never accepted, lost, or held by a dead worker."""
    return FeedbackRead.objects.needing_dispatch(now=now)


def finding_record_reactions(*, finding_id: int, thumbs_up: int, thumbs_down: int) -> None:
    """A finding's counts as just read: they replace what an earlier close read."""
    now = timezone.now()
    Finding.objects.filter(id=finding_id).update(
        thumbs_up=thumbs_up, thumbs_down=thumbs_down, reactions_read_at=now, updated_at=now
    )
