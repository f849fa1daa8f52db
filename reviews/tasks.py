"""Celery tasks: thin. Claim the row, call the pipeline, decide whether to retry."""

import logging
from functools import partial

from celery import shared_task
from django.conf import settings
from django.db import transaction

from . import services
from .models import Analysis

logger = logging.getLogger(__name__)

# The hard limit stays inside the lease, so an expired lease always means a dead worker.
_TIME_LIMIT = int(settings.REVIEW_LEASE_SECONDS * 0.9)
_SOFT_TIME_LIMIT = int(settings.REVIEW_LEASE_SECONDS * 0.8)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=_TIME_LIMIT,
    soft_time_limit=_SOFT_TIME_LIMIT,
)
def review_pull_request(self, analysis_id: int) -> None:
    claim = services.analysis_claim(analysis_id=analysis_id)
    if claim is not services.Claim.CLAIMED:
        logger.info("review not claimed analysis_id=%s claim=%s", analysis_id, claim.value)
        return
    # The review engine is not installed yet: the analysis stays running (never
    # completed) so no unreviewed pull request is ever reported as reviewed.
    logger.warning("no review engine installed yet analysis_id=%s", analysis_id)


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
