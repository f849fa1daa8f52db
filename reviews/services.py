"""Every write to an Analysis, in one place.

State changes are conditional UPDATEs checked by their row count, so two processes
racing on one review (a redelivered task, a sweep, a second worker) never both win.
"""

import logging
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import Enum
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from reviews.github.resources import PullRequest
from reviews.models import Analysis, Finding
from reviews.results import Finding as ResultFinding
from reviews.results import NewSide, ReviewResult, finding_fingerprint, most_severe_first
from reviews.scrub import scrub, scrub_json

logger = logging.getLogger(__name__)

Status = Analysis.Status
FINISHED = (Status.COMPLETED, Status.FAILED, Status.SKIPPED, Status.SUPERSEDED)
# The reviews that make another automatic review of the same head pointless.
ACTIVE = (Status.QUEUED, Status.RUNNING, Status.COMPLETED)


@dataclass(frozen=True)
class Recorded:
    analysis_id: int  # the review that answers this delivery
    queued: bool  # False: a duplicate delivery, or a head already reviewed; nothing new to do


def analysis_create(
    *,
    pull_request: PullRequest,
    event: str,
    action: str,
    delivery_id: str | None = None,
    rerun_of: Analysis | None = None,
    publish: bool = True,
    skipped: str = "",
) -> Analysis:
    """The one way an analysis comes to be: a delivery, a re-run, or an operator's command.

    It is created as dispatched (reviews/dispatch.py): the caller dispatches it right after
    commit, and clears that if the broker refuses. One created `skipped` (with the reason)
    only records a delivery; nothing dispatches it.
    """
    now = timezone.now()
    return Analysis.objects.create(
        delivery_id=delivery_id,
        event=event,
        action=action,
        repo_full_name=pull_request.repo_full_name[:200],
        pr_number=pull_request.number,
        pr_title=pull_request.title[:500],
        pr_url=pull_request.html_url[:500],
        pr_author=pull_request.author[:100],
        head_sha=pull_request.head_sha,
        base_sha=pull_request.base_sha,
        rerun_of=rerun_of,
        publish=publish,
        status=Status.SKIPPED if skipped else Status.QUEUED,
        error=skipped,
        finished_at=now if skipped else None,
        dispatched_at=None if skipped else now,
    )


def analysis_record_delivery(
    *, delivery_id: str, event: str, action: str, pull_request: PullRequest
) -> Recorded:
    """Store a delivery that asks for a review, exactly once per delivery id.

    GitHub's manual redelivery reuses the delivery id (docs/github-facts.md W5): a redelivery of a
    delivery whose review failed queues that review again instead of being swallowed.
    A delivery for a head that already has a queued, running or completed automatic review
    is recorded as skipped and answered with that review: the delivery id is not signed,
    so a replayed delivery must not buy another billed review.
    """
    # Outside a transaction the INSERT commits by itself: one round trip on the webhook's hot
    # path instead of three. Inside one (a caller's, or a test's), a savepoint keeps it
    # usable after a duplicate key.
    for _ in range(3):  # each pass loses at most one race; a third is not expected
        try:
            with _savepoint():
                analysis = analysis_create(
                    pull_request=pull_request, event=event, action=action, delivery_id=delivery_id
                )
            return Recorded(analysis_id=analysis.id, queued=True)
        except IntegrityError:
            pass
        existing = Analysis.objects.filter(delivery_id=delivery_id).values_list("id", flat=True)
        analysis_id = existing.first()
        if analysis_id is not None:
            requeued = analysis_requeue_failed(analysis_id=analysis_id)
            return Recorded(analysis_id=analysis_id, queued=requeued)
        active = _active_review_of_head(event=event, pull_request=pull_request)
        if active is None:
            continue  # the review holding the head failed meanwhile: this one may run
        try:
            with _savepoint():
                analysis_create(
                    pull_request=pull_request,
                    event=event,
                    action=action,
                    delivery_id=delivery_id,
                    skipped=f"Head {pull_request.head_sha[:12]} is already reviewed by "
                    f"analysis #{active}.",
                )
        except IntegrityError:
            pass  # a copy of this very delivery recorded it first
        return Recorded(analysis_id=active, queued=False)
    raise IntegrityError(f"could not record delivery {delivery_id}")


def _savepoint() -> Any:
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _active_review_of_head(*, event: str, pull_request: PullRequest) -> int | None:
    return (
        Analysis.objects.filter(
            repo_full_name=pull_request.repo_full_name,
            pr_number=pull_request.number,
            head_sha=pull_request.head_sha,
            event=event,
            rerun_of__isnull=True,
            status__in=ACTIVE,
        )
        .values_list("id", flat=True)
        .first()
    )


def analysis_requeue_failed(*, analysis_id: int) -> bool:
    """Move a failed analysis back to queued for a fresh attempt; False if it was not failed,
    or if another review of its head is already queued, running or completed."""
    try:
        with transaction.atomic():
            return _requeue_failed(analysis_id)
    except IntegrityError:
        return False


def _requeue_failed(analysis_id: int) -> bool:
    return bool(
        Analysis.objects.filter(id=analysis_id, status=Status.FAILED).update(
            status=Status.QUEUED,
            error="",
            raw_output="",
            attempts=0,
            lease_expires_at=None,
            started_at=None,
            finished_at=None,
            dispatched_at=timezone.now(),
            retry_at=None,
        )
    )


def analysis_mark_dispatched(*, analysis_id: int, dispatched: bool) -> None:
    Analysis.objects.filter(id=analysis_id).exclude(status__in=FINISHED).update(
        dispatched_at=timezone.now() if dispatched else None
    )


class Claim(Enum):
    CLAIMED = "claimed"
    BUSY = "busy"  # another worker holds a live lease, or the review is finished
    EXHAUSTED = "exhausted"  # its workers kept dying; now failed


def analysis_claim(*, analysis_id: int) -> Claim:
    """Take a review for this worker: queued, or running under a lease that expired.

    A lease that expired means the worker holding it died (or hung past its time limit).
    Such a review is taken again at most REVIEW_MAX_ATTEMPTS times in all, so a pull
    request that kills its worker cannot be redelivered forever.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=settings.REVIEW_LEASE_SECONDS)
    claimable = Q(status=Status.QUEUED) | Q(
        status=Status.RUNNING,
        lease_expires_at__lt=now,
        attempts__lt=settings.REVIEW_MAX_ATTEMPTS,
    )
    claimed = (
        Analysis.objects.filter(claimable, id=analysis_id).update(
            status=Status.RUNNING,
            lease_expires_at=lease,
            started_at=now,
            attempts=F("attempts") + 1,
        )
        == 1
    )
    if claimed:
        return Claim.CLAIMED
    exhausted = Analysis.objects.filter(
        id=analysis_id, status=Status.RUNNING, lease_expires_at__lt=now
    ).update(
        status=Status.FAILED,
        error=(
            f"The review was interrupted {settings.REVIEW_MAX_ATTEMPTS} times "
            "(its worker stopped or was killed mid-review); giving up. "
            "Re-run it once the cause is fixed."
        ),
        lease_expires_at=None,
        finished_at=now,
    )
    return Claim.EXHAUSTED if exhausted else Claim.BUSY


def analysis_release(*, analysis_id: int, error: str, retry_in: float = 0) -> None:
    """Hand a claimed review back to the queue before a retry, keeping why it stopped.

    The retry's due time is recorded, so the sweep does not dispatch it again before then
    (a rate limit can ask for an hour).
    """
    now = timezone.now()
    Analysis.objects.filter(id=analysis_id, status=Status.RUNNING).update(
        status=Status.QUEUED,
        lease_expires_at=None,
        error=scrub(error),
        dispatched_at=now,
        retry_at=now + timedelta(seconds=retry_in),
    )


def analysis_finish(*, analysis_id: int, status: str, error: str = "", **fields: Any) -> bool:
    """Record the end of a running review. False if it was no longer running (lost lease)."""
    if status not in FINISHED:
        raise ValueError(f"{status!r} is not a finished status")
    return bool(
        Analysis.objects.filter(id=analysis_id, status=Status.RUNNING).update(
            status=status,
            error=scrub(error),
            lease_expires_at=None,
            finished_at=timezone.now(),
            **fields,
        )
    )


def analysis_fail(*, analysis_id: int, error: str, raw_output: str = "") -> bool:
    """Fail a review that is not finished yet, whatever state it is in."""
    return bool(
        Analysis.objects.filter(id=analysis_id)
        .exclude(status__in=FINISHED)
        .update(
            status=Status.FAILED,
            error=scrub(error),
            raw_output=scrub(raw_output),
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
    )


def analyses_needing_dispatch(*, now: Any = None) -> list[int]:
    """Reviews the broker may not have: never accepted, lost, or held by a dead worker."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.REVIEW_LEASE_SECONDS)
    # No message at all, or none due within the last lease: a review the sweep just re-sent
    # is left alone for a lease, so no worker gets a pile of copies.
    not_recently = Q(dispatched_at__isnull=True) | (
        Q(dispatched_at__lt=stale) & (Q(retry_at__isnull=True) | Q(retry_at__lt=stale))
    )
    pending = Q(status=Status.QUEUED) & not_recently
    abandoned = Q(status=Status.RUNNING, lease_expires_at__lt=now) & not_recently
    return list(
        Analysis.objects.filter(pending | abandoned).order_by("id").values_list("id", flat=True)
    )


def analysis_rerun(*, analysis: Analysis) -> Analysis:
    """A fresh review of the same pull request, recording which analysis it re-runs.

    The one re-run path behind the admin action, the API and `rerun_review`. The caller
    dispatches the new id after commit (see `tasks.dispatch_review`).
    """
    return analysis_create(
        pull_request=analysis.pull_request,
        event=analysis.event,
        action="rerun",
        rerun_of=analysis,
    )


def analysis_supersede_older(*, analysis: Analysis) -> int:
    """Supersede earlier reviews of the same pull request at another head; they never post."""
    return (
        Analysis.objects.filter(
            repo_full_name=analysis.repo_full_name,
            pr_number=analysis.pr_number,
            status__in=(Status.QUEUED, Status.RUNNING),
            id__lt=analysis.id,
        )
        .exclude(head_sha=analysis.head_sha)
        .update(
            status=Status.SUPERSEDED,
            error=f"Superseded by analysis #{analysis.id} of {analysis.head_sha[:12]}.",
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
    )


def analysis_complete(*, analysis_id: int, result: ReviewResult) -> bool:
    """Store a finished review. False if it lost its claim meanwhile."""
    usage = result.usage
    return analysis_finish(
        analysis_id=analysis_id,
        status=Status.COMPLETED,
        feedback=scrub_json(result.to_json()),
        llm_model=scrub(usage.model)[:200],
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost=usage.cost,
        raw_output="",
    )


def analysis_complete_with_findings(
    *, analysis: Analysis, result: ReviewResult, changed_lines: "ChangedLines | None" = None
) -> "LedgerSummary | None":
    """Store a finished review and its findings in the ledger, together; None if it lost its
    claim meanwhile (and then nothing is written).

    Findings dismissed on this pull request are left out of what is stored, so neither the
    comment nor the inline comments show them again.
    """
    with transaction.atomic():
        result = findings_without_dismissed(analysis=analysis, result=result)
        if not analysis_complete(analysis_id=analysis.id, result=result):
            return None
        return findings_record(analysis=analysis, result=result, changed_lines=changed_lines)


def analysis_record_timing(*, analysis_id: int, step: str, seconds: float) -> None:
    """Add one step's duration to the stored feedback (the store step can't time itself)."""
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().only("feedback").get(id=analysis_id)
        analysis.feedback.setdefault("timings", {})[step] = round(seconds, 3)
        analysis.save(update_fields=["feedback"])


def analysis_record_comment(*, analysis_id: int, comment: Any, error: str) -> None:
    """Where the review was posted (a `github.Comment`, or None), and what failed to post."""
    fields: dict[str, Any] = {"comment_error": scrub(error)}
    if comment is not None:
        fields.update(comment_url=comment.html_url, comment_posted_at=timezone.now())
    Analysis.objects.filter(id=analysis_id).update(**fields)


# --- the findings ledger ------------------------------------------------------------------------

FindingState = Finding.State
# Per path, the new-side line numbers the commits since the last review touched.
ChangedLines = dict[str, set[int]]


@dataclass(frozen=True)
class LedgerSummary:
    """What one review changed in its pull request's ledger, for the summary comment."""

    new: int  # raised for the first time
    open: int  # open after this review: raised again, new, or carried forward
    fixed: int  # their lines changed since `since`
    outdated: int  # their file left the pull request
    dismissed: int  # dismissed on this pull request (never raised again)
    since: str  # the head reviewed before this one ("" for the first review)


def _legacy_fingerprint(finding: ResultFinding) -> str:
    return finding_fingerprint(finding.path, finding.category, finding.title)


def findings_without_dismissed(*, analysis: Analysis, result: ReviewResult) -> ReviewResult:
    """The result without the findings someone dismissed on this pull request."""
    dismissed = set(
        Finding.objects.filter(
            repo_full_name=analysis.repo_full_name,
            pr_number=analysis.pr_number,
            state=FindingState.DISMISSED,
        ).values_list("fingerprint", flat=True)
    )
    if not dismissed:
        return result
    # A row from before anchor texts (its fingerprint has none) covers every finding it
    # would have been.
    kept = tuple(
        f
        for f in result.findings
        if f.fingerprint not in dismissed and _legacy_fingerprint(f) not in dismissed
    )
    return replace(result, findings=kept)


def findings_record(
    *, analysis: Analysis, result: ReviewResult, changed_lines: ChangedLines | None = None
) -> LedgerSummary:
    """Bring the pull request's ledger up to date with a completed review.

    Raised findings are opened (or kept open) and refreshed; a dismissed one stays dismissed.
    The PR's other open findings are followed on the reviewed diff (`result.new_side`): their
    file left it: outdated; their lines are gone from it: fixed; otherwise they stay open,
    reported by this review too. `changed_lines` (an incremental review's) says which lines the
    new commits touched: a finding on untouched lines was not looked at again, so stays open.
    Without `new_side` (unknown diff) the others are carried forward untouched.

    Every state change is a conditional UPDATE on the state read, so a person dismissing a
    finding meanwhile wins over the pipeline.
    """
    repo, number, sha = analysis.repo_full_name, analysis.pr_number, analysis.head_sha
    rows = Finding.objects.filter(repo_full_name=repo, pr_number=number)
    known = {row.fingerprint: row for row in rows}
    raised: dict[str, ResultFinding] = {}
    for finding in most_severe_first(result.findings):  # the most severe one speaks for it
        raised.setdefault(finding.fingerprint, finding)

    new, reported = 0, set()
    for fingerprint, finding in raised.items():
        row = known.get(fingerprint) or _adopt_legacy(known, finding)
        if row is None:
            row = _create(analysis, finding)
            if row is None:  # created by a concurrent review: refresh it like any other
                row = rows.get(fingerprint=fingerprint)
            else:
                new += 1
                reported.add(row.pk)
                continue
        if row.state == FindingState.DISMISSED:
            continue
        still_wanted = rows.filter(pk=row.pk).exclude(state=FindingState.DISMISSED)
        fields = {**_finding_fields(finding), "last_seen_sha": sha, "updated_at": timezone.now()}
        if still_wanted.update(state=FindingState.OPEN, **fields):
            reported.add(row.pk)

    new_side = result.new_side
    fixed = outdated = 0
    for row in known.values():
        if row.pk in reported or row.state != FindingState.OPEN or row.fingerprint in raised:
            continue
        mine = rows.filter(pk=row.pk, state=FindingState.OPEN)
        if new_side is None:
            carried = mine.update(last_seen_sha=sha, updated_at=timezone.now())
        elif row.path not in new_side:
            outdated += mine.update(state=FindingState.OUTDATED, updated_at=timezone.now())
            continue
        elif changed_lines is not None and not _touched(row, changed_lines):
            carried = mine.update(last_seen_sha=sha, updated_at=timezone.now())
        else:
            place = _follow(row, new_side)
            if place is None:
                fixed += mine.update(state=FindingState.FIXED, updated_at=timezone.now())
                continue
            carried = mine.update(
                line=place,
                end_line=_moved_end(row, place),
                last_seen_sha=sha,
                updated_at=timezone.now(),
            )
        if carried:
            reported.add(row.pk)

    Finding.analyses.through.objects.bulk_create(
        [Finding.analyses.through(finding_id=pk, analysis_id=analysis.id) for pk in reported],
        ignore_conflicts=True,  # a review recorded twice reports each finding once
    )
    counts = {
        row["state"]: row["n"]
        for row in rows.filter(state__in=[FindingState.OPEN, FindingState.DISMISSED])
        .order_by()
        .values("state")
        .annotate(n=Count("id"))
    }
    return LedgerSummary(
        new=new,
        open=counts.get(FindingState.OPEN, 0),
        fixed=fixed,
        outdated=outdated,
        dismissed=counts.get(FindingState.DISMISSED, 0),
        since=_previous_head(analysis),
    )


def _finding_fields(finding: ResultFinding) -> dict[str, Any]:
    return {
        "path": finding.path[:1000],
        "line": max(finding.line, 0),
        "end_line": finding.end_line,
        "category": finding.category,
        "severity": finding.severity,
        "title": scrub(finding.title),
        "body": scrub(finding.body),
        "suggestion": scrub(finding.suggestion or ""),
        "anchored": finding.anchored,
        "anchor_text": scrub(finding.anchor_text),
    }


def _create(analysis: Analysis, finding: ResultFinding) -> Finding | None:
    """Insert a new identity; None when a concurrent review inserted it first."""
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction survives a clash
            row = Finding.objects.create(
                repo_full_name=analysis.repo_full_name,
                pr_number=analysis.pr_number,
                fingerprint=finding.fingerprint,
                analysis=analysis,
                first_seen_sha=analysis.head_sha,
                last_seen_sha=analysis.head_sha,
                **_finding_fields(finding),
            )
    except IntegrityError:
        return None
    return row


def _adopt_legacy(known: dict[str, Finding], finding: ResultFinding) -> Finding | None:
    """A row stored before anchor texts (by the ledger's migration) becomes this finding's
    identity, rather than the same finding appearing twice. Its inline comment, if any,
    carries the old fingerprint, which publishing also recognises."""
    if not finding.anchor_text:
        return None
    legacy = known.get(_legacy_fingerprint(finding))
    if legacy is None or legacy.anchor_text:
        return None
    adopted = Finding.objects.filter(pk=legacy.pk, fingerprint=legacy.fingerprint).update(
        fingerprint=finding.fingerprint, anchor_text=scrub(finding.anchor_text)
    )
    if not adopted:
        return None
    del known[legacy.fingerprint]
    legacy.fingerprint = finding.fingerprint
    known[finding.fingerprint] = legacy
    return legacy


def _touched(row: Finding, changed_lines: ChangedLines) -> bool:
    lines = changed_lines.get(row.path, set())
    return any(line in lines for line in range(row.line, (row.end_line or row.line) + 1))


def _follow(row: Finding, new_side: NewSide) -> int | None:
    """Where the finding's lines are on the new diff; its own line when their text is unknown."""
    if not row.anchor_text:
        return row.line
    return new_side.locate(row.path, row.anchor_text, near=row.line)


def _moved_end(row: Finding, place: int) -> int | None:
    return place + (row.end_line - row.line) if row.end_line else None


def _previous_head(analysis: Analysis) -> str:
    return (
        Analysis.objects.filter(
            repo_full_name=analysis.repo_full_name,
            pr_number=analysis.pr_number,
            status=Status.COMPLETED,
            id__lt=analysis.id,
        )
        .order_by("-id")
        .values_list("head_sha", flat=True)
        .first()
        or ""
    )
