"""Handing reviews to the broker, and the protocol that finds the ones it lost.

Every path that queues a review (webhook, re-run, command, sweep) goes through here, and so
does the read of a closed pull request's feedback (reviews/feedback), under the same protocol.

The protocol, on two columns of every leased row (`Analysis`, `FeedbackRead`; the queries are
`LeaseQuerySet.mark_dispatched` and `needing_dispatch` in reviews/leases.py):

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

Another leased model joins by one entry in `SWEPT` (and a `dispatch(KIND, pk)` where it is
created).
"""

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import transaction

from prism.celery import app
from reviews import services
from reviews.commands import services as command_services
from reviews.models import Analysis, FeedbackRead

logger = logging.getLogger(__name__)

# The task's registered name: sending by name keeps this module below the tasks module.
REVIEW_TASK = "reviews.tasks.review_pull_request"
COMMAND_TASK = "reviews.tasks.run_command"
FEEDBACK_TASK = "reviews.tasks.read_feedback"
PUBLISH_TASK = "reviews.tasks.publish_review"


@dataclass(frozen=True)
class Leased:
    """Rows a worker claims under the lease protocol (reviews/leases.py), and their task."""

    task: str
    model: Any  # a model whose manager is a LeaseQuerySet
    name: str  # in log lines: "analysis"
    plural: str  # "analyses"
    log_key: str  # "analysis_id"


REVIEWS = Leased(REVIEW_TASK, Analysis, "analysis", "analyses", "analysis_id")
FEEDBACK_READS = Leased(
    FEEDBACK_TASK, FeedbackRead, "feedback read", "feedback reads", "feedback_read_id"
)
# What the sweep dispatches again when the broker lost it.
SWEPT = (REVIEWS, FEEDBACK_READS)


def dispatch(kind: Leased, pk: int, *, redispatch: bool = False) -> bool:
    """Hand a row's task to the broker. Never raises: the row is committed either way.

    A broker that is down must not turn a webhook into a 5xx (GitHub does not redeliver
    on its own): the row stays queued with no dispatch time, which is exactly what the
    sweep dispatches again.
    """
    try:
        app.tasks[kind.task].apply_async((pk,))
    except Exception:  # any broker failure; the sweep is the safety net
        logger.warning(
            "broker unavailable; %s left queued for the sweep %s=%s",
            kind.name,
            kind.log_key,
            pk,
            exc_info=True,
        )
        kind.model.objects.mark_dispatched(pk, dispatched=False)
        return False
    if redispatch:
        kind.model.objects.mark_dispatched(pk, dispatched=True)
    return True


def dispatch_review(analysis_id: int, *, redispatch: bool = False) -> bool:
    return dispatch(REVIEWS, analysis_id, redispatch=redispatch)


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


def dispatch_command(command_id: int) -> bool:
    """Hand a command to the broker. Never raises: a command the broker refused or lost stays
    queued, and the sweep dispatches it again (within the hour: a command is a request of
    the moment, not one to be caught up on days later)."""
    try:
        app.tasks[COMMAND_TASK].apply_async((command_id,))
    except Exception:  # any broker failure
        logger.warning("broker unavailable; command left queued command_id=%s", command_id)
        return False
    return True


def dispatch_command_on_commit(command_id: int) -> None:
    transaction.on_commit(partial(dispatch_command, command_id))


def dispatch_feedback(read_id: int, *, redispatch: bool = False) -> bool:
    return dispatch(FEEDBACK_READS, read_id, redispatch=redispatch)


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
    dispatched = 0
    for kind in SWEPT:
        pks = kind.model.objects.needing_dispatch()
        sent = sum(dispatch(kind, pk, redispatch=True) for pk in pks)
        if pks:
            logger.info("sweep dispatched %s of %s stale %s", sent, len(pks), kind.plural)
        dispatched += sent
    # Commands keep their own protocol (reviews/commands/services.py): a duplicate message
    # finds the command claimed (or finished) and does nothing.
    command_services.commands_fail_abandoned()
    commands = command_services.commands_needing_dispatch()
    dispatched += sum(dispatch_command(command_id) for command_id in commands)
    overdue = services.analyses_needing_publish()
    posted = sum(dispatch_publish(pk, countdown=0) for pk in overdue)
    if overdue:
        logger.info("sweep dispatched %s of %s overdue postings", posted, len(overdue))
    return dispatched + posted
