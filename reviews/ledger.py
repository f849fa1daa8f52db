"""The findings ledger: every write to a `Finding`, one row per finding of a pull request.

A completed review brings its pull request's ledger up to date: what it raised is open, what
the new commits did not touch is carried forward, what they changed and the review did not
raise again is fixed, what left the diff is outdated; a dismissed finding is never raised
again. State changes are conditional UPDATEs, so a dismissal made meanwhile wins.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from reviews import services
from reviews.models import Analysis, Finding
from reviews.results import Finding as ResultFinding
from reviews.results import NewSide, ReviewResult, finding_fingerprint, most_severe_first
from reviews.scrub import scrub

logger = logging.getLogger(__name__)

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
        if still_wanted.update(state=FindingState.OPEN, closed_by=None, **fields):
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
            outdated += mine.update(
                state=FindingState.OUTDATED, closed_by=analysis, updated_at=timezone.now()
            )
            continue
        elif changed_lines is not None and not _touched(row, changed_lines):
            carried = mine.update(last_seen_sha=sha, updated_at=timezone.now())
        else:
            place = _follow(row, new_side)
            if place is None:
                fixed += mine.update(
                    state=FindingState.FIXED, closed_by=analysis, updated_at=timezone.now()
                )
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
            status=Analysis.Status.COMPLETED,
            id__lt=analysis.id,
        )
        .order_by("-id")
        .values_list("head_sha", flat=True)
        .first()
        or ""
    )


def analysis_complete_with_findings(
    *, analysis: Analysis, result: ReviewResult, changed_lines: ChangedLines | None = None
) -> LedgerSummary | None:
    """Store a finished review and its findings in the ledger, together; None if it lost its
    claim meanwhile (and then nothing is written).

    Findings dismissed on this pull request are left out of what is stored, so neither the
    comment nor the inline comments show them again.
    """
    with transaction.atomic():
        result = findings_without_dismissed(analysis=analysis, result=result)
        if not services.analysis_complete(analysis_id=analysis.id, result=result):
            return None
        return findings_record(analysis=analysis, result=result, changed_lines=changed_lines)


def findings_record_threads(*, analysis: Analysis, thread_ids: Mapping[str, str]) -> None:
    """Remember the review thread of each of the pull request's findings Prism commented on."""
    rows = Finding.objects.filter(
        repo_full_name=analysis.repo_full_name, pr_number=analysis.pr_number
    )
    for fingerprint, thread_id in thread_ids.items():
        rows.filter(fingerprint=fingerprint).exclude(thread_node_id=thread_id).update(
            thread_node_id=thread_id
        )


def finding_dismiss(*, finding: Finding, login: str, reason: str) -> bool:
    """A person dismisses a finding: it is never raised on this pull request again
    (reviews/ledger.py leaves a dismissed row alone). False if it was dismissed already."""
    return bool(
        Finding.objects.filter(pk=finding.pk)
        .exclude(state=Finding.State.DISMISSED)
        .update(
            state=Finding.State.DISMISSED,
            dismissed_by=login[:100],
            dismiss_reason=scrub(reason)[:2000],
            dismissed_at=timezone.now(),
            updated_at=timezone.now(),
        )
    )
