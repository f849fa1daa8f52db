"""Handing reviews to the broker, and the protocol that finds the ones it lost.

Every path that queues a review (webhook, re-run, command, sweep) goes through here, and so
does the read of a closed pull request's feedback (reviews/feedback), under the same protocol.

The protocol, on two columns of `Analysis`:

- `dispatched_at`: when a message for this review was last handed to the broker. A new
  analysis is created with it set, because it is dispatched right after its transaction
  commits; if the broker refuses that message, `dispatched_at` is cleared to None.
  None therefore always means "the broker has no message for it".
- `retry_at`: when a retry the worker scheduled is due (Celery holds that message until
  then; a rate limit can ask for an hour). None when no retry is pending.

A queued review whose message is missing (`dispatched_at` is None), or whose last
dispatch and pending retry are both older than a lease, is presumed lost, and so is a
running one whose lease expired: `sweep()` dispatches those again. A lost message costs a
delay, never a review: the worker claims a review with a conditional UPDATE, so a
duplicate message finds nothing to do.
"""

import logging
from functools import partial

from django.db import transaction

from prism.celery import app
from reviews import services
from reviews.feedback import records as feedback_records
from reviews.models import Analysis

logger = logging.getLogger(__name__)

# The task's registered name: sending by name keeps this module below the tasks module.
REVIEW_TASK = "reviews.tasks.review_pull_request"
FEEDBACK_TASK = "reviews.tasks.read_feedback"
PUBLISH_TASK = "reviews.tasks.publish_review"


def dispatch_review(analysis_id: int, *, redispatch: bool = False) -> bool:
    """Hand a review to the broker. Never raises: the row is committed either way.

    A broker that is down must not turn a webhook into a 5xx (GitHub does not redeliver
    on its own): the analysis stays queued with no dispatch time, which is exactly what
    the sweep dispatches again.
    """
    try:
        app.tasks[REVIEW_TASK].apply_async((analysis_id,))
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


def dispatch_publish(analysis_id: int, *, countdown: float) -> bool:
    """Post a completed review once GitHub's rate limit allows (reviews/pipeline/deferred.py).

    Never raises: the row's `publish_due_at` is the record, and the sweep dispatches an
    overdue one again.
    """
    try:
        app.tasks[PUBLISH_TASK].apply_async((analysis_id,), countdown=max(countdown, 0.0))
    except Exception:
        logger.warning(
            "broker unavailable; posting left for the sweep analysis_id=%s",
            analysis_id,
            exc_info=True,
        )
        return False
    return True


def dispatch_on_commit(analysis_id: int) -> None:
    """Dispatch once the current transaction commits, so the worker finds the row."""
    transaction.on_commit(partial(dispatch_review, analysis_id))


def dispatch_feedback(read_id: int, *, redispatch: bool = False) -> bool:
    """Hand a feedback read to the broker. Never raises, as `dispatch_review`."""
    try:
        app.tasks[FEEDBACK_TASK].apply_async((read_id,))
    except Exception:  # any broker failure; the sweep is the safety net
        logger.warning(
            "broker unavailable; feedback read left queued for the sweep feedback_read_id=%s",
            read_id,
            exc_info=True,
        )
        feedback_records.feedback_mark_dispatched(read_id=read_id, dispatched=False)
        return False
    if redispatch:
        feedback_records.feedback_mark_dispatched(read_id=read_id, dispatched=True)
    return True


def dispatch_feedback_on_commit(read_id: int) -> None:
    transaction.on_commit(partial(dispatch_feedback, read_id))


def queue_rerun(analysis: Analysis) -> Analysis:
    """Queue a fresh review of the same pull request: the admin, the API and the command."""
    with transaction.atomic():
        rerun = services.analysis_rerun(analysis=analysis)
        dispatch_on_commit(rerun.id)
    return rerun


def sweep() -> int:
    """Dispatch reviews the broker lost or never had, and those held by dead workers."""
    analysis_ids = services.analyses_needing_dispatch()
    dispatched = sum(dispatch_review(pk, redispatch=True) for pk in analysis_ids)
    if analysis_ids:
        logger.info("sweep dispatched %s of %s stale analyses", dispatched, len(analysis_ids))
    read_ids = feedback_records.feedback_reads_needing_dispatch()
    reads = sum(dispatch_feedback(pk, redispatch=True) for pk in read_ids)
    if read_ids:
        logger.info("sweep dispatched %s of %s stale feedback reads", reads, len(read_ids))
    overdue = services.analyses_needing_publish()
    posted = sum(dispatch_publish(pk, countdown=0) for pk in overdue)
    if overdue:
        logger.info("sweep dispatched %s of %s overdue postings", posted, len(overdue))
    return dispatched + reads + posted
