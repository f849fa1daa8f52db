"""Reads over analyses and the findings ledger for the API, the admin and the commands;
nothing here writes.

Questions about findings across reviews ("analyses with a high finding") are asked of the
ledger's rows (`reviews.models.Finding`), plain ORM on every database. One review's own
counts still come from its stored feedback, which is that review's record.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from reviews.models import Analysis, Finding
from reviews.results import CATEGORIES, SEVERITIES, ReviewResult, Standing


def analyses_reporting(queryset: QuerySet[Analysis], **finding: Any) -> QuerySet[Analysis]:
    """Analyses that reported a ledger finding matching `finding` (lookups on its fields):
    `analyses_reporting(qs, severity__in=["high", "critical"])`.

    A finding's row holds its latest severity and text, so an analysis that reported it
    earlier is matched by what the finding is now.
    """
    lookups = {f"reported_findings__{name}": value for name, value in finding.items()}
    return queryset.filter(**lookups).distinct()


@dataclass(frozen=True)
class FindingSummary:
    total: int
    by_category: dict[str, int]
    by_severity: dict[str, int]
    top_severity: str | None


def finding_summary(result: ReviewResult) -> FindingSummary:
    """Counts by category and severity, and the highest severity, of one analysis."""
    findings = result.findings
    categories = Counter(f.category for f in findings)
    severities = Counter(f.severity for f in findings)
    ranked = [s for s in SEVERITIES if severities[s]]
    return FindingSummary(
        total=len(findings),
        by_category={c: categories[c] for c in CATEGORIES if categories[c]},
        by_severity={s: severities[s] for s in reversed(SEVERITIES) if severities[s]},
        top_severity=ranked[-1] if ranked else None,
    )


def analysis_duration(analysis: Analysis) -> timedelta | None:
    if analysis.started_at and analysis.finished_at:
        return analysis.finished_at - analysis.started_at
    return None


@dataclass
class Overview:
    days: list[tuple[date, int, int]]  # day, reviews, failures
    by_category: dict[str, int]
    by_severity: dict[str, int]
    per_repository: list[dict[str, Any]]
    recent_failures: list[Analysis]
    since: date = field(default_factory=date.today)


def analysis_overview(*, days: int = 30) -> Overview:
    """What the admin's overview page charts, over the last `days` days.

    Findings are the ledger's: each finding of a pull request counts once, in the period of
    the review that first raised it, however often later pushes and re-runs report it.
    """
    first = timezone.localdate() - timedelta(days=days - 1)
    recent = Analysis.objects.filter(created_at__date__gte=first)
    categories, severities = _finding_counts(recent)
    return Overview(
        days=_reviews_per_day(recent, first, days),
        by_category={c: categories[c] for c in CATEGORIES},
        by_severity={s: severities[s] for s in reversed(SEVERITIES)},
        per_repository=_per_repository(recent),
        recent_failures=list(
            recent.filter(status=Analysis.Status.FAILED).order_by("-created_at")[:10]
        ),
        since=first,
    )


def _reviews_per_day(recent: QuerySet, first: date, days: int) -> list[tuple[date, int, int]]:
    per_day = {
        row["day"]: row
        for row in recent.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Count("id"), failed=Count("id", filter=Q(status=Analysis.Status.FAILED)))
    }
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = per_day.get(day, {})
        series.append((day, row.get("total", 0), row.get("failed", 0)))
    return series


def _finding_counts(recent: QuerySet) -> tuple[Counter[str], Counter[str]]:
    raised = Finding.objects.filter(analysis__in=recent).order_by()
    categories = Counter(
        {row["category"]: row["n"] for row in raised.values("category").annotate(n=Count("id"))}
    )
    severities = Counter(
        {row["severity"]: row["n"] for row in raised.values("severity").annotate(n=Count("id"))}
    )
    return categories, severities


def _per_repository(recent: QuerySet) -> list[dict]:
    rows = list(
        recent.values("repo_full_name")
        .annotate(
            reviews=Count("id"),
            failures=Count("id", filter=Q(status=Analysis.Status.FAILED)),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cost=Sum("cost"),
        )
        .order_by("-reviews", "repo_full_name")
    )
    for row in rows:
        row["tokens"] = (row["prompt_tokens"] or 0) + (row["completion_tokens"] or 0)
        row["cost"] = row["cost"] or Decimal(0)
    return rows


def last_completed_review(analysis: Analysis) -> Analysis | None:
    """The pull request's latest completed review of another head, older than `analysis`:
    what a push is reviewed against. None when there is none."""
    return (
        Analysis.objects.filter(
            repo_full_name=analysis.repo_full_name,
            pr_number=analysis.pr_number,
            status=Analysis.Status.COMPLETED,
            id__lt=analysis.id,
        )
        .exclude(head_sha=analysis.head_sha)
        .order_by("-id")
        .first()
    )


def standing_of(analysis: Analysis) -> Standing | None:
    """Where the pull request's findings stand after `analysis`, for its comment; None for a
    pull request's first review (everything in it is new, and nothing was fixed yet)."""
    previous = last_completed_review(analysis)
    if previous is None:
        return None
    rows = Finding.objects.filter(
        repo_full_name=analysis.repo_full_name, pr_number=analysis.pr_number
    )
    closed = rows.filter(closed_by=analysis)
    return Standing(
        open=tuple(row.as_result() for row in rows.filter(state=Finding.State.OPEN)),
        new=frozenset(rows.filter(analysis=analysis).values_list("fingerprint", flat=True)),
        fixed=closed.filter(state=Finding.State.FIXED).count(),
        outdated=closed.filter(state=Finding.State.OUTDATED).count(),
        dismissed=rows.filter(state=Finding.State.DISMISSED).count(),
        since=previous.head_sha,
    )
