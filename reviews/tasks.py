"""Celery tasks: thin. Claim the row, call the pipeline, decide whether to retry."""

import logging
import random
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from reviews import dispatch, logs, selectors, services
from reviews.errors import ServiceError
from reviews.feedback import reactions
from reviews.feedback import records as feedback_records
from reviews.pipeline import deferred, failure, review
from reviews.results import Usage

logger = logging.getLogger(__name__)

# The hard limit stays inside the lease, so an expired lease always means a dead worker.
# (A prefork pool only: the threads pool, the default, enforces no limit and the lease is the
# guard; prism/celery.py.)
_TIME_LIMIT = int(settings.REVIEW_LEASE_SECONDS * 0.9)
_SOFT_TIME_LIMIT = int(settings.REVIEW_LEASE_SECONDS * 0.8)
# Transient GitHub or LLM failures (rate limits, 5xx) retried with backoff before failing.
MAX_RETRIES = 5


@shared_task(
    bind=True,
    name=dispatch.REVIEW_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=_TIME_LIMIT,
    soft_time_limit=_SOFT_TIME_LIMIT,
    max_retries=MAX_RETRIES,
)
def review_pull_request(self, analysis_id: int) -> None:
    # Every line logged during the review names it (reviews/logs.py).
    with logs.bound(**selectors.analysis_log_fields(analysis_id=analysis_id)):
        _review(self, analysis_id)


def _review(self: Any, analysis_id: int) -> None:  # self: the bound Celery task
    claim = services.analysis_claim(analysis_id=analysis_id)
    if claim is services.Claim.EXHAUSTED:
        failure.report_failure(analysis_id)
    if claim is not services.Claim.CLAIMED:
        logger.info("review not claimed analysis_id=%s claim=%s", analysis_id, claim.value)
        return
    try:
        review.run(analysis_id)
    except ServiceError as exc:
        if exc.permanent or self.request.retries >= self.max_retries:
            failure.fail_review(analysis_id, exc)
            return
        countdown = exc.retry_after or _backoff(self.request.retries)
        usage = getattr(exc, "usage", None)
        services.analysis_release(
            analysis_id=analysis_id,
            error=f"Will retry: {exc}",
            retry_in=countdown,
            usage=usage if isinstance(usage, Usage) else None,
        )
        logger.warning("review will retry analysis_id=%s in %.0fs: %s", analysis_id, countdown, exc)
        raise self.retry(countdown=countdown) from exc
    except SoftTimeLimitExceeded:
        failure.fail_review(analysis_id, f"The review took longer than {_SOFT_TIME_LIMIT} seconds.")
    except Exception as exc:
        failure.fail_review(analysis_id, exc)
        raise  # Celery logs the traceback too


def _backoff(retries: int) -> float:
    """30 s, 60 s, 120 s… up to 10 minutes, with jitter so retries don't arrive together."""
    return min(600.0, 30.0 * 2**retries) * random.uniform(0.8, 1.2)


@shared_task(
    bind=True,
    name=dispatch.FEEDBACK_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=_TIME_LIMIT,
    soft_time_limit=_SOFT_TIME_LIMIT,
    max_retries=MAX_RETRIES,
)
def read_feedback(self, read_id: int) -> None:
    """A closed pull request: read the reactions on Prism's inline comments (reviews/feedback)."""
    if not feedback_records.feedback_claim(read_id=read_id):
        logger.info("feedback read not claimed feedback_read_id=%s", read_id)
        return
    try:
        reactions.read(read_id)
    except ServiceError as exc:
        if exc.permanent or self.request.retries >= self.max_retries:
            feedback_records.feedback_fail(read_id=read_id, error=str(exc))
            return
        countdown = exc.retry_after or _backoff(self.request.retries)
        feedback_records.feedback_release(
            read_id=read_id, error=f"Will retry: {exc}", retry_in=countdown
        )
        logger.warning("feedback read will retry feedback_read_id=%s in %.0fs", read_id, countdown)
        raise self.retry(countdown=countdown) from exc
    except SoftTimeLimitExceeded:
        feedback_records.feedback_fail(
            read_id=read_id, error=f"The read took longer than {_SOFT_TIME_LIMIT} seconds."
        )
    except Exception as exc:
        feedback_records.feedback_fail(
            read_id=read_id, error=f"Internal error: {type(exc).__name__}: {exc}"
        )
        raise  # Celery logs the traceback too


@shared_task(name=dispatch.PUBLISH_TASK, acks_late=True, reject_on_worker_lost=True)
def publish_review(analysis_id: int) -> None:
    """Post a completed review whose posting waited for GitHub's rate limit."""
    deferred.publish_due(analysis_id)


@shared_task
def sweep_stale_analyses() -> int:
    """Dispatch reviews the broker lost or never had, and those held by dead workers."""
    return dispatch.sweep()
