"""Every write to a `Command` and to a pull request's `PullRequestState`, in one place.

State changes are conditional UPDATEs checked by their row count, like the analyses'
(reviews/services.py): two workers holding copies of one command's message never both run it.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from reviews import redaction, services
from reviews.commands.parse import Command as ParsedCommand
from reviews.github.comment_events import PullRequestComment
from reviews.github.resources import PullRequest
from reviews.leases import savepoint
from reviews.models import Analysis, Command, PullRequestState
from reviews.results import Usage
from reviews.scrub import scrub

Status = Command.Status
FINISHED = (Status.DONE, Status.REFUSED, Status.FAILED, Status.IGNORED)
# A command still queued this long after its comment was lost by the broker; one older than
# GIVE_UP_SECONDS is left as it is (visible in the admin): nobody waits that long for a reply.
STALE_SECONDS = 120
GIVE_UP_SECONDS = 3600


@dataclass(frozen=True)
class Recorded:
    command_id: int
    queued: bool  # False: this comment's command was recorded before (a redelivery, a replay)


def command_record_delivery(
    *,
    delivery_id: str,
    comment: PullRequestComment,
    command: ParsedCommand,
    installation_id: int | None = None,
) -> Recorded:
    """Store a comment's command once per comment, however often GitHub delivers it.
    `installation_id`: the App installation that answers it (None in personal-token mode)."""
    try:
        # One INSERT that commits by itself on the webhook's hot path (a savepoint inside a
        # caller's transaction), as for a pull request's delivery.
        with savepoint():
            row = Command.objects.create(
                source=comment.event,
                comment_id=comment.comment_id,
                comment_url=comment.html_url,
                in_reply_to_id=comment.in_reply_to_id,
                delivery_id=delivery_id,
                installation_id=installation_id,
                repo_full_name=comment.repo_full_name,
                pr_number=comment.pr_number,
                pr_author=comment.pr_author,
                author=comment.author,
                author_association=comment.author_association,
                verb=command.verb.value,
                # A credential pasted into a question is public on GitHub, but not ours to keep.
                arguments=scrub(redaction.redact(command.arguments)[0]),
                path=comment.path,
                line=comment.line if comment.line and comment.line > 0 else None,
            )
        return Recorded(row.id, queued=True)
    except IntegrityError:
        existing = Command.objects.filter(source=comment.event, comment_id=comment.comment_id)
        command_id = existing.values_list("id", flat=True).first()
        if command_id is None:
            raise
        return Recorded(command_id, queued=False)


def command_claim(*, command_id: int) -> bool:
    """Take a queued command for this worker, or one a dead worker left running past a lease
    (REVIEW_LEASE_SECONDS), at most REVIEW_MAX_ATTEMPTS times; False if another has it or it
    is finished. A command taken over runs its steps again: each is safe to repeat (a
    review is queued once per command, reactions are idempotent)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.REVIEW_LEASE_SECONDS)
    claimable = Q(status=Status.QUEUED) | Q(
        status=Status.RUNNING, started_at__lt=stale, attempts__lt=settings.REVIEW_MAX_ATTEMPTS
    )
    return bool(
        Command.objects.filter(claimable, id=command_id).update(
            status=Status.RUNNING, started_at=now, attempts=F("attempts") + 1
        )
    )


def command_release(*, command_id: int, error: str) -> None:
    """Hand a running command back before a retry, keeping why it stopped."""
    Command.objects.filter(id=command_id, status=Status.RUNNING).update(
        status=Status.QUEUED, error=scrub(error)
    )


def command_finish(
    *, command_id: int, status: str, outcome: str, reply: str = "", error: str = "", **fields: Any
) -> bool:
    """Record how a running command ended. False if it was not running any more."""
    if status not in FINISHED:
        raise ValueError(f"{status!r} is not a finished status")
    return bool(
        Command.objects.filter(id=command_id, status=Status.RUNNING).update(
            status=status,
            outcome=scrub(outcome)[:2000],
            reply=scrub(reply),
            error=scrub(error),
            finished_at=timezone.now(),
            **fields,
        )
    )


def command_fail(*, command_id: int, error: str) -> bool:
    """Fail a command that is not finished yet, whatever state it is in."""
    return bool(
        Command.objects.filter(id=command_id)
        .exclude(status__in=FINISHED)
        .update(
            status=Status.FAILED,
            error=scrub(error),
            outcome="Failed; see the error.",
            finished_at=timezone.now(),
        )
    )


def command_record_usage(*, command_id: int, usage: Usage) -> None:
    fields: dict[str, Any] = {
        "prompt_tokens": F("prompt_tokens") + usage.prompt_tokens,
        "completion_tokens": F("completion_tokens") + usage.completion_tokens,
        "llm_model": scrub(usage.model)[:200],
    }
    if usage.cost is not None:
        fields["cost"] = Decimal(str(round(usage.cost, 6)))
    Command.objects.filter(id=command_id).update(**fields)


def _locked_state(repo: str, number: int) -> PullRequestState:
    """The pull request's state row, locked until the caller's transaction ends."""
    PullRequestState.objects.get_or_create(repo_full_name=repo, pr_number=number)
    return PullRequestState.objects.select_for_update().get(repo_full_name=repo, pr_number=number)


def command_count_run(*, command: Command) -> bool:
    """Grant a manual review or a question under MANUAL_RUNS_PER_PR; False when the pull
    request has used them all. Granting twice for one command counts it once."""
    with transaction.atomic():
        _locked_state(command.repo_full_name, command.pr_number)
        if Command.objects.filter(id=command.id, counted=True).exists():
            return True
        used = Command.objects.filter(
            repo_full_name=command.repo_full_name, pr_number=command.pr_number, counted=True
        ).count()
        if used >= settings.MANUAL_RUNS_PER_PR:
            return False
        Command.objects.filter(id=command.id).update(counted=True)
        return True


def command_queue_review(*, command: Command, pull_request: PullRequest) -> Analysis:
    """The review a command asks for, created once per command: a retried command gets the
    analysis it created before. The caller dispatches it (reviews/dispatch.py)."""
    with transaction.atomic():
        row = Command.objects.select_for_update().get(id=command.id)
        if row.analysis_id is not None:
            return Analysis.objects.get(id=row.analysis_id)
        analysis = services.analysis_create(
            pull_request=pull_request,
            event=Analysis.MANUAL_EVENT,
            action=command.verb,
            installation_id=command.installation_id,
        )
        Command.objects.filter(id=command.id).update(analysis=analysis)
        return analysis


def pull_request_pause(*, repo: str, number: int, login: str) -> bool:
    """Pause automatic reviews of a pull request; False if it was paused already."""
    with transaction.atomic():
        state = _locked_state(repo, number)
        if state.paused:
            return False
        PullRequestState.objects.filter(pk=state.pk).update(
            paused=True, paused_by=login[:100], paused_at=timezone.now(), updated_at=timezone.now()
        )
        return True


def pull_request_resume(*, repo: str, number: int, login: str) -> bool:
    """Resume automatic reviews; False if the pull request was not paused."""
    with transaction.atomic():
        state = _locked_state(repo, number)
        if not state.paused:
            return False
        PullRequestState.objects.filter(pk=state.pk).update(
            paused=False,
            resumed_by=login[:100],
            resumed_at=timezone.now(),
            updated_at=timezone.now(),
        )
        return True


def commands_needing_dispatch() -> list[int]:
    """Commands still queued a while after their comment (the broker lost or never took
    them), and those a dead worker left running past a lease."""
    now = timezone.now()
    lost = Q(status=Status.QUEUED, created_at__lt=now - timedelta(seconds=STALE_SECONDS))
    abandoned = Q(
        status=Status.RUNNING,
        started_at__lt=now - timedelta(seconds=settings.REVIEW_LEASE_SECONDS),
        attempts__lt=settings.REVIEW_MAX_ATTEMPTS,
    )
    return list(
        Command.objects.filter(
            lost | abandoned, created_at__gt=now - timedelta(seconds=GIVE_UP_SECONDS)
        )
        .order_by("id")
        .values_list("id", flat=True)
    )


def commands_fail_abandoned() -> int:
    """Fail the commands whose workers kept dying (REVIEW_MAX_ATTEMPTS takeovers), so the
    admin shows them failed rather than running forever."""
    now = timezone.now()
    return Command.objects.filter(
        status=Status.RUNNING,
        started_at__lt=now - timedelta(seconds=settings.REVIEW_LEASE_SECONDS),
        attempts__gte=settings.REVIEW_MAX_ATTEMPTS,
    ).update(
        status=Status.FAILED,
        error=f"Interrupted {settings.REVIEW_MAX_ATTEMPTS} times (its worker stopped or was "
        "killed); giving up.",
        outcome="Failed; see the error.",
        finished_at=now,
    )
