"""Celery tasks: thin. Claim the row, call the pipeline, decide whether to retry."""

import logging
import random
from functools import partial

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction

from . import publish, review, services
from .github import GitHubError
from .llm import LLMError
from .models import Analysis

logger = logging.getLogger(__name__)

# The hard limit stays inside the lease, so an expired lease always means a dead worker.
_TIME_LIMIT = int(settings.REVIEW_LEASE_SECONDS * 0.9)
_SOFT_TIME_LIMIT = int(settings.REVIEW_LEASE_SECONDS * 0.8)
# Transient GitHub or LLM failures (rate limits, 5xx) retried with backoff before failing.
MAX_RETRIES = 5


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=_TIME_LIMIT,
    soft_time_limit=_SOFT_TIME_LIMIT,
    max_retries=MAX_RETRIES,
)
def review_pull_request(self, analysis_id: int) -> None:
    claim = services.analysis_claim(analysis_id=analysis_id)
    if claim is services.Claim.EXHAUSTED:
        report_failure(analysis_id)
    if claim is not services.Claim.CLAIMED:
        logger.info("review not claimed analysis_id=%s claim=%s", analysis_id, claim.value)
        return
    try:
        review.run(analysis_id)
    except (GitHubError, LLMError) as exc:
        if not exc.permanent and self.request.retries < self.max_retries:
            countdown = exc.retry_after or _backoff(self.request.retries)
            services.analysis_release(
                analysis_id=analysis_id, error=f"Will retry: {exc}", retry_in=countdown
            )
            logger.warning(
                "review will retry analysis_id=%s in %.0fs: %s", analysis_id, countdown, exc
            )
            raise self.retry(countdown=countdown) from exc
        _fail(analysis_id, str(exc), raw_output=getattr(exc, "raw_output", ""))
    except SoftTimeLimitExceeded:
        _fail(analysis_id, f"The review took longer than {_SOFT_TIME_LIMIT} seconds.")
    except Exception as exc:
        # The one catch-all: the row must say what happened, then Celery sees the error.
        _fail(analysis_id, f"Internal error: {type(exc).__name__}: {exc}")
        raise


def _fail(analysis_id: int, error: str, raw_output: str = "") -> None:
    logger.warning("review failed analysis_id=%s: %s", analysis_id, error)
    if services.analysis_fail(analysis_id=analysis_id, error=error, raw_output=raw_output):
        report_failure(analysis_id)


def report_failure(analysis_id: int) -> None:
    try:
        publish.report_failure(analysis_id, review.github_client())
    except GitHubError as exc:  # reporting is best effort; the row already holds the failure
        logger.warning("could not report failure analysis_id=%s: %s", analysis_id, exc)
    except Exception:
        logger.warning("could not report failure analysis_id=%s", analysis_id, exc_info=True)


def _backoff(retries: int) -> float:
    """30 s, 60 s, 120 s… up to 10 minutes, with jitter so retries don't arrive together."""
    return min(600.0, 30.0 * 2**retries) * random.uniform(0.8, 1.2)


def dispatch_review(analysis_id: int, *, redispatch: bool = False) -> bool:
    """Hand a review to the broker. Never raises: the row is committed either way.

    A broker that is down must not turn a webhook into a 5xx (GitHub does not redeliver
    on its own, FACTS.md W3). The analysis stays queued with no dispatch time, which is
    exactly what the periodic sweep dispatches again.
    """
    try:
        review_pull_request.apply_async((analysis_id,))
    except Exception:  # any broker failure; the sweep is the safety net
        logger.warning(
            "broker unavailable; analysis left queued for the sweep analysis_id=%s",
            analysis_id,
            exc_info=True,
        )
        services.analysis_mark_dispatched(analysis_id=analysis_id, dispatched=False)
        return False
    if redispatch:
        services.analysis_mark_dispatched(analysis_id=analysis_id, dispatched=True)
    return True


@shared_task
def sweep_stale_analyses() -> int:
    """Dispatch reviews the broker lost or never had, and those held by dead workers."""
    analysis_ids = services.analyses_needing_dispatch()
    dispatched = sum(dispatch_review(pk, redispatch=True) for pk in analysis_ids)
    if analysis_ids:
        logger.info("sweep dispatched %s of %s stale analyses", dispatched, len(analysis_ids))
    return dispatched


def rerun_review(analysis: Analysis) -> Analysis:
    """Queue a fresh review of the same pull request and dispatch it once committed."""
    with transaction.atomic():
        rerun = services.analysis_rerun(analysis=analysis)
        transaction.on_commit(partial(dispatch_review, rerun.id))
    return rerun
