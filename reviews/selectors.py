"""Reads over analyses and the findings ledger for the API, the admin and the commands;
nothing here writes.

Questions about findings across reviews ("analyses with a high finding") are asked of the
ledger's rows (`reviews.models.Finding`), plain ORM on every database. One review's own
counts still come from its stored feedback, which is that review's record.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet
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
    days: list[tuple[date, int, int]]  # day, reviews, failures (each PR head once)
    by_category: dict[str, int]
    by_severity: dict[str, int]
    per_repository: list[dict[str, Any]]
    recent_failures: list[Analysis]
    since: date = field(default_factory=date.today)
    per_day: list[dict[str, Any]] = field(default_factory=list)
    per_model: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)


OUTCOMES = ("completed", "failed", "other")  # skipped, superseded, queued, running: "other"


def analysis_overview(*, days: int = 30) -> Overview:
    """What the admin's overview page shows, over the last `days` days.

    A review is one pull request head: re-runs and redeliveries of the same head count once,
    with the outcome of its latest attempt, on that attempt's day. Spend (tokens, money) is
    every attempt's, since every attempt was paid for. Findings are the ledger's: each finding
    of a pull request counts once, on the day of the review that first raised it, however
    often later pushes and re-runs report it.
    """
    first = timezone.localdate() - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))
    recent = Analysis.objects.filter(created_at__gte=since)
    attempts = list(
        recent.order_by("id").values_list(
            "id",
            "repo_full_name",
            "pr_number",
            "head_sha",
            "status",
            "created_at",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            "llm_model",
        )
    )
    calendar = [first + timedelta(days=n) for n in range(days)]
    day_rows = {day: _empty_row(day=day) for day in calendar}
    repositories: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    latest: dict[tuple, tuple] = {}
    for row in attempts:
        _, repo, number, head, status, created, prompt, completion, cost, model = row
        day = timezone.localtime(created).date()
        latest[(repo, number, head)] = (day, status, model)
        for bucket in (
            day_rows.get(day),
            repositories.setdefault(repo, _empty_row(repo_full_name=repo)),
            models.setdefault(model or "", _empty_row(model=model or "")),
        ):
            if bucket is not None:
                bucket["attempts"] += 1
                bucket["prompt_tokens"] += prompt
                bucket["completion_tokens"] += completion
                bucket["tokens"] += prompt + completion
                bucket["cost"] += cost or Decimal(0)
    for (repo, _, _), (day, status, model) in latest.items():
        outcome = status if status in ("completed", "failed") else "other"
        for bucket in (day_rows.get(day), repositories[repo], models[model or ""]):
            if bucket is not None:
                bucket["reviews"] += 1
                bucket[outcome] += 1
    raised = Finding.objects.filter(analysis__created_at__gte=since).order_by()
    for found in (
        raised.annotate(day=TruncDate("analysis__created_at"))
        .values("day", "severity", "repo_full_name", "analysis__llm_model")
        .annotate(n=Count("id"))
    ):
        for bucket in (
            day_rows.get(found["day"]),
            repositories.get(found["repo_full_name"]),
            models.get(found["analysis__llm_model"] or ""),
        ):
            if bucket is not None and found["severity"] in bucket["findings"]:
                bucket["findings"][found["severity"]] += found["n"]
                bucket["findings_total"] += found["n"]
    rows = [_finish(row) for row in day_rows.values()]
    totals = _finish(_empty_row())
    for day_row in rows:
        for key in ("reviews", "attempts", *OUTCOMES, "tokens", "cost", "findings_total"):
            totals[key] += day_row[key]
        for severity, n in day_row["findings"].items():
            totals["findings"][severity] += n
    totals = _finish(totals)
    categories, severities = _finding_counts(recent)
    return Overview(
        days=[(row["day"], row["reviews"], row["failed"]) for row in rows],
        by_category={c: categories[c] for c in CATEGORIES},
        by_severity={s: severities[s] for s in reversed(SEVERITIES)},
        per_repository=sorted(
            (_finish(row) | {"failures": row["failed"]} for row in repositories.values()),
            key=lambda row: (-row["reviews"], row["repo_full_name"]),
        ),
        recent_failures=list(
            recent.filter(status=Analysis.Status.FAILED).order_by("-created_at")[:10]
        ),
        since=first,
        per_day=rows,
        per_model=sorted(
            (_finish(row) for row in models.values()), key=lambda row: (-row["cost"], row["model"])
        ),
        totals=totals,
    )


def _empty_row(**key: Any) -> dict[str, Any]:
    return {
        **key,
        "reviews": 0,
        "attempts": 0,
        "completed": 0,
        "failed": 0,
        "other": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "tokens": 0,
        "cost": Decimal(0),
        "findings": {s: 0 for s in reversed(SEVERITIES)},
        "findings_total": 0,
    }


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    """Add the failure rate: failed reviews of those that finished one way or the other."""
    decided = row["completed"] + row["failed"]
    row["failure_rate"] = row["failed"] / decided if decided else None
    return row


def _finding_counts(recent: QuerySet) -> tuple[Counter[str], Counter[str]]:
    raised = Finding.objects.filter(analysis__in=recent).order_by()
    categories = Counter(
        {row["category"]: row["n"] for row in raised.values("category").annotate(n=Count("id"))}
    )
    severities = Counter(
        {row["severity"]: row["n"] for row in raised.values("severity").annotate(n=Count("id"))}
    )
    return categories, severities


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
