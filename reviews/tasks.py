"""Celery tasks: thin. Claim the row, call the pipeline, decide whether to retry."""

import logging
import random
from collections.abc import Callable
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from reviews import dispatch, logs, selectors, services
from reviews.commands import run as commands
from reviews.commands import services as command_services
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
# A task that runs a claimed row (reviews/leases.py): its message is acknowledged only once
# it ends, so a worker that dies mid-way leaves it to another.
_CLAIMED_ROW_TASK: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "time_limit": _TIME_LIMIT,
    "soft_time_limit": _SOFT_TIME_LIMIT,
    "max_retries": MAX_RETRIES,
}


@shared_task(name=dispatch.REVIEW_TASK, **_CLAIMED_ROW_TASK)
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
    _run_claimed(
        self,
        analysis_id,
        review.run,
        release=_release_review,
        fail=failure.fail_review,
        noun="review",
        log_key="analysis_id",
    )


def _release_review(analysis_id: int, exc: ServiceError, retry_in: float) -> None:
    usage = getattr(exc, "usage", None)  # what the attempt's model calls cost
    services.analysis_release(
        analysis_id=analysis_id,
        error=f"Will retry: {exc}",
        retry_in=retry_in,
        usage=usage if isinstance(usage, Usage) else None,
    )


def _run_claimed(
    task: Any,  # the bound Celery task
    pk: int,
    work: Callable[[int], None],
    *,
    release: Callable[[int, ServiceError, float], None],
    fail: Callable[[int, str | BaseException], None],
    noun: str,
    log_key: str,
) -> None:
    """The retry policy of a claimed row: a permanent error, or a transient one out of
    retries, fails it; another transient one releases it and retries with backoff."""
    try:
        work(pk)
    except ServiceError as exc:
        if exc.permanent or task.request.retries >= task.max_retries:
            fail(pk, exc)
            return
        countdown = exc.retry_after or _backoff(task.request.retries)
        release(pk, exc, countdown)
        logger.warning("%s will retry %s=%s in %.0fs: %s", noun, log_key, pk, countdown, exc)
        raise task.retry(countdown=countdown) from exc
    except SoftTimeLimitExceeded:
        fail(pk, f"The {noun} took longer than {_SOFT_TIME_LIMIT} seconds.")
    except Exception as exc:
        fail(pk, exc)
        raise  # Celery logs the traceback too


def _backoff(retries: int) -> float:
    """30 s, 60 s, 120 s… up to 10 minutes, with jitter so retries don't arrive together."""
    return min(600.0, 30.0 * 2**retries) * random.uniform(0.8, 1.2)


@shared_task(name=dispatch.FEEDBACK_TASK, **_CLAIMED_ROW_TASK)
def read_feedback(self, read_id: int) -> None:
    """A closed pull request: read the reactions on Prism's inline comments (reviews/feedback)."""
    if not feedback_records.feedback_claim(read_id=read_id):
        logger.info("feedback read not claimed feedback_read_id=%s", read_id)
        return
    _run_claimed(
        self,
        read_id,
        reactions.read,
        release=_release_read,
        fail=_fail_read,
        noun="read",
        log_key="feedback_read_id",
    )


def _release_read(read_id: int, exc: ServiceError, retry_in: float) -> None:
    error = f"Will retry: {exc}"
    feedback_records.feedback_release(read_id=read_id, error=error, retry_in=retry_in)


def _fail_read(read_id: int, cause: str | BaseException) -> None:
    error = cause if isinstance(cause, str) else failure.describe(cause)[0]
    feedback_records.feedback_fail(read_id=read_id, error=error)


@shared_task(name=dispatch.PUBLISH_TASK, acks_late=True, reject_on_worker_lost=True)
def publish_review(analysis_id: int) -> None:
    """Post a completed review whose posting waited for GitHub's rate limit."""
    deferred.publish_due(analysis_id)


@shared_task
def sweep_stale_analyses() -> int:
    """Dispatch reviews the broker lost or never had, and those held by dead workers."""
    return dispatch.sweep()


@shared_task(bind=True, name=dispatch.COMMAND_TASK, acks_late=True, max_retries=MAX_RETRIES)
def run_command(self, command_id: int) -> None:
    """One command from a pull request's comment: claimed once, however often delivered."""
    # Every line logged while it runs names the command (reviews/logs.py).
    with logs.bound(**selectors.command_log_fields(command_id=command_id)):
        _run_command(self, command_id)


def _run_command(self: Any, command_id: int) -> None:  # self: the bound Celery task
    if not command_services.command_claim(command_id=command_id):
        logger.info("command not claimed command_id=%s", command_id)
        return
    try:
        commands.run(command_id)
    except ServiceError as exc:
        if exc.permanent or self.request.retries >= self.max_retries:
            _fail_command(command_id, str(exc))
            return
        countdown = exc.retry_after or _backoff(self.request.retries)
        command_services.command_release(command_id=command_id, error=f"Will retry: {exc}")
        logger.warning("command will retry command_id=%s in %.0fs: %s", command_id, countdown, exc)
        raise self.retry(countdown=countdown) from exc
    except Exception as exc:
        _fail_command(command_id, f"Internal error: {type(exc).__name__}: {exc}")
        raise


def _fail_command(command_id: int, error: str) -> None:
    if command_services.command_fail(command_id=command_id, error=error):
        commands.report_failure(command_id, error)
