"""The claim, lease and dispatch protocol of a row a worker runs: an analysis, a feedback read.

A model takes part by declaring `objects = LeaseQuerySet.as_manager()` and these fields:
`status` (with the values "queued", "running" and "failed"; any other value is a finished
one), `attempts`, `error`, `lease_expires_at`, `started_at`, `finished_at`, and the dispatch
columns `dispatched_at` and `retry_at` (reviews/dispatch.py explains those two).

Every change is a conditional UPDATE checked by its row count, so two processes racing on
one row (a redelivered task, a sweep, a second worker) never both win.
"""

from contextlib import nullcontext
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from reviews.scrub import scrub

QUEUED = "queued"
RUNNING = "running"
FAILED = "failed"
UNFINISHED = (QUEUED, RUNNING)

_M = TypeVar("_M", bound=models.Model)


class Claim(Enum):
    CLAIMED = "claimed"
    BUSY = "busy"  # another worker holds a live lease, or the row is finished
    EXHAUSTED = "exhausted"  # its workers kept dying; now failed


def savepoint() -> Any:
    """Around an INSERT that may hit a duplicate key. Outside a transaction the INSERT commits
    by itself (one round trip on the webhook's path); inside one (a caller's, or a test's), a
    savepoint keeps it usable after the IntegrityError."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


class LeaseQuerySet(models.QuerySet[_M]):
    def claim(self, pk: int, *, exhausted_error: str) -> Claim:
        """Take a row for this worker: queued, or running under a lease that expired.

        A lease that expired means the worker holding it died (or hung past its time limit).
        Such a row is taken again at most REVIEW_MAX_ATTEMPTS times in all, then failed with
        `exhausted_error`, so work that kills its worker cannot be redelivered forever.
        """
        now = timezone.now()
        claimable = Q(status=QUEUED) | Q(
            status=RUNNING,
            lease_expires_at__lt=now,
            attempts__lt=settings.REVIEW_MAX_ATTEMPTS,
        )
        claimed = self.filter(claimable, id=pk).update(
            status=RUNNING,
            lease_expires_at=now + timedelta(seconds=settings.REVIEW_LEASE_SECONDS),
            started_at=now,
            attempts=F("attempts") + 1,
        )
        if claimed == 1:
            return Claim.CLAIMED
        exhausted = self.filter(id=pk, status=RUNNING, lease_expires_at__lt=now).update(
            status=FAILED,
            error=exhausted_error,
            lease_expires_at=None,
            finished_at=now,
        )
        return Claim.EXHAUSTED if exhausted else Claim.BUSY

    def release(self, pk: int, *, error: str, retry_in: float, **fields: Any) -> None:
        """Hand a claimed row back to the queue before a retry, keeping why it stopped.

        The retry's due time is recorded, so the sweep does not dispatch it again before then
        (a rate limit can ask for an hour).
        """
        now = timezone.now()
        self.filter(id=pk, status=RUNNING).update(
            status=QUEUED,
            lease_expires_at=None,
            error=scrub(error),
            dispatched_at=now,
            retry_at=now + timedelta(seconds=retry_in),
            **fields,
        )

    def finish(self, pk: int, *, status: str, error: str = "", **fields: Any) -> bool:
        """Record the end of a running row. False if it was no longer running (lost lease)."""
        return bool(
            self.filter(id=pk, status=RUNNING).update(
                status=status,
                error=scrub(error),
                lease_expires_at=None,
                finished_at=timezone.now(),
                **fields,
            )
        )

    def fail(self, pk: int, *, error: str, **fields: Any) -> bool:
        """Fail a row that is not finished yet, whatever state it is in."""
        return bool(
            self.filter(id=pk, status__in=UNFINISHED).update(
                status=FAILED,
                error=scrub(error),
                lease_expires_at=None,
                finished_at=timezone.now(),
                **fields,
            )
        )

    def requeue_failed(self, pk: int, **fields: Any) -> bool:
        """Move a failed row back to queued for a fresh attempt; False if it was not failed."""
        return bool(
            self.filter(id=pk, status=FAILED).update(
                status=QUEUED,
                error="",
                attempts=0,
                lease_expires_at=None,
                started_at=None,
                finished_at=None,
                dispatched_at=timezone.now(),
                retry_at=None,
                **fields,
            )
        )

    def mark_dispatched(self, pk: int, *, dispatched: bool) -> None:
        """Record a message handed to the broker (True), or one it refused (False)."""
        self.filter(id=pk, status__in=UNFINISHED).update(
            dispatched_at=timezone.now() if dispatched else None
        )

    def needing_dispatch(self, *, now: datetime | None = None) -> list[int]:
        """Rows the broker may not have: never accepted, lost, or held by a dead worker."""
        now = now or timezone.now()
        stale = now - timedelta(seconds=settings.REVIEW_LEASE_SECONDS)
        # No message at all, or none due within the last lease: a row the sweep just re-sent
        # is left alone for a lease, so no worker gets a pile of copies.
        not_recently = Q(dispatched_at__isnull=True) | (
            Q(dispatched_at__lt=stale) & (Q(retry_at__isnull=True) | Q(retry_at__lt=stale))
        )
        pending = Q(status=QUEUED) & not_recently
        abandoned = Q(status=RUNNING, lease_expires_at__lt=now) & not_recently
        return list(self.filter(pending | abandoned).order_by("id").values_list("id", flat=True))
