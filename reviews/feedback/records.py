"""Every write of the feedback reads: the closed delivery's row, its claim and outcome, and the
counts it stores on each finding.

State changes are conditional UPDATEs checked by their row count, as for analyses
(reviews/services.py): a redelivered task, a sweep and a second worker never both win.
"""

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from reviews.github.resources import PullRequest
from reviews.models import FeedbackRead, Finding
from reviews.scrub import scrub

Status = FeedbackRead.Status
FINISHED = (Status.COMPLETED, Status.FAILED)


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
        with _savepoint():
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


def _savepoint() -> Any:
    # Outside a transaction the INSERT commits by itself (one round trip on the webhook's
    # path); inside one (a test's), a savepoint keeps it usable after a duplicate key.
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def feedback_requeue_failed(*, read_id: int) -> bool:
    """A failed read queued for a fresh attempt; False if it had not failed."""
    return bool(
        FeedbackRead.objects.filter(id=read_id, status=Status.FAILED).update(
            status=Status.QUEUED,
            error="",
            attempts=0,
            lease_expires_at=None,
            started_at=None,
            finished_at=None,
            dispatched_at=timezone.now(),
            retry_at=None,
        )
    )


def feedback_mark_dispatched(*, read_id: int, dispatched: bool) -> None:
    FeedbackRead.objects.filter(id=read_id).exclude(status__in=FINISHED).update(
        dispatched_at=timezone.now() if dispatched else None
    )


def feedback_claim(*, read_id: int) -> bool:
    """Take a read for this worker: queued, or running under a lease that expired (its
    worker died). One whose workers kept dying fails after REVIEW_MAX_ATTEMPTS."""
    now = timezone.now()
    claimable = Q(status=Status.QUEUED) | Q(
        status=Status.RUNNING,
        lease_expires_at__lt=now,
        attempts__lt=settings.REVIEW_MAX_ATTEMPTS,
    )
    claimed = FeedbackRead.objects.filter(claimable, id=read_id).update(
        status=Status.RUNNING,
        lease_expires_at=now + timedelta(seconds=settings.REVIEW_LEASE_SECONDS),
        started_at=now,
        attempts=F("attempts") + 1,
    )
    if claimed:
        return True
    FeedbackRead.objects.filter(id=read_id, status=Status.RUNNING, lease_expires_at__lt=now).update(
        status=Status.FAILED,
        error=f"Interrupted {settings.REVIEW_MAX_ATTEMPTS} times (its worker stopped); "
        "giving up. GitHub's redelivery of the closed event reads it again.",
        lease_expires_at=None,
        finished_at=now,
    )
    return False


def feedback_release(*, read_id: int, error: str, retry_in: float) -> None:
    """Hand a claimed read back before a retry, keeping why it stopped and when it is due."""
    now = timezone.now()
    FeedbackRead.objects.filter(id=read_id, status=Status.RUNNING).update(
        status=Status.QUEUED,
        lease_expires_at=None,
        error=scrub(error),
        dispatched_at=now,
        retry_at=now + timedelta(seconds=retry_in),
    )


def feedback_finish(*, read_id: int, read: int, missing: int, error: str = "") -> bool:
    """The read is done: how many comments were read, how many not, and why not."""
    return bool(
        FeedbackRead.objects.filter(id=read_id, status=Status.RUNNING).update(
            status=Status.COMPLETED,
            comments_read=read,
            comments_missing=missing,
            error=scrub(error),
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
    )


def feedback_fail(*, read_id: int, error: str) -> bool:
    """The read could not finish; what it read before stays on the findings."""
    return bool(
        FeedbackRead.objects.filter(id=read_id)
        .exclude(status__in=FINISHED)
        .update(
            status=Status.FAILED,
            error=scrub(error),
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
    )


def feedback_reads_needing_dispatch(*, now: Any = None) -> list[int]:
    """Reads the broker may not have: never accepted, lost, or held by a dead worker (the
    same rule as `services.analyses_needing_dispatch`)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.REVIEW_LEASE_SECONDS)
    not_recently = Q(dispatched_at__isnull=True) | (
        Q(dispatched_at__lt=stale) & (Q(retry_at__isnull=True) | Q(retry_at__lt=stale))
    )
    pending = Q(status=Status.QUEUED) & not_recently
    abandoned = Q(status=Status.RUNNING, lease_expires_at__lt=now) & not_recently
    return list(
        FeedbackRead.objects.filter(pending | abandoned).order_by("id").values_list("id", flat=True)
    )


def finding_record_reactions(*, finding_id: int, thumbs_up: int, thumbs_down: int) -> None:
    """A finding's counts as just read: they replace what an earlier close read."""
    now = timezone.now()
    Finding.objects.filter(id=finding_id).update(
        thumbs_up=thumbs_up, thumbs_down=thumbs_down, reactions_read_at=now, updated_at=now
    )
