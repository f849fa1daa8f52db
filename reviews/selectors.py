"""Reads over analyses for the API, the admin and the commands; nothing here writes.

Findings live in `Analysis.feedback["findings"]`, a JSON list of dicts. Asking the database
"has a finding with severity in (...)" has no portable ORM spelling: JSON containment
(`__contains`) exists on PostgreSQL but not on SQLite, and matching the JSON text is fooled
by a finding whose title quotes `"severity": "high"`. So each backend gets its own exact
query over the parsed JSON, and both are tested.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connections
from django.db.models import BooleanField, Count, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from django.utils import timezone

from reviews.models import Analysis
from reviews.results import CATEGORIES, SEVERITIES, ReviewResult

# Only these keys are ever put into SQL, so the JSON path below is never user input.
FINDING_KEYS = frozenset({"severity", "category"})


def analyses_with_finding(
    queryset: QuerySet[Analysis], *, key: str, values: Iterable[str]
) -> QuerySet[Analysis]:
    """Analyses with a finding whose `key` is one of `values`, decided by the database."""
    if key not in FINDING_KEYS:
        raise ValueError(f"cannot filter findings by {key!r}")
    values = list(values)
    if not values:
        return queryset.none()
    vendor = connections[queryset.db].vendor
    if vendor == "postgresql":
        # jsonb containment: the findings array holds an object containing {key: value}.
        match = Q()
        for value in values:
            match |= Q(feedback__findings__contains=[{key: value}])
        return queryset.filter(match)
    if vendor == "sqlite":
        column = f'"{Analysis._meta.db_table}"."feedback"'
        placeholders = ", ".join(["%s"] * len(values))
        # json_extract on the whole document (always valid JSON) at each element's path, rather
        # than on the element's text, so a malformed element can never raise mid-query.
        # Only the table name and placeholders are formatted in; every value is a parameter.
        sql = (
            f"EXISTS (SELECT 1 FROM json_each({column}, '$.findings') AS finding "  # noqa: S608
            f"WHERE json_type({column}, '$.findings') = 'array' AND finding.type = 'object' "
            f"AND json_extract({column}, finding.fullkey || %s) IN ({placeholders}))"
        )
        return queryset.filter(
            RawSQL(sql, [f".{key}", *values], output_field=BooleanField())  # noqa: S611
        )
    # Any other database: correct, but reads every row's feedback.
    ids = [
        pk
        for pk, feedback in queryset.values_list("id", "feedback")
        if any(getattr(f, key) in values for f in ReviewResult.from_json(feedback).findings)
    ]
    return queryset.filter(id__in=ids)


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

    Findings are counted in Python: their JSON has no portable aggregate, and a month of
    reviews is a few thousand rows at most for a self-hosted reviewer.
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
    categories: Counter[str] = Counter()
    severities: Counter[str] = Counter()
    completed = recent.filter(status=Analysis.Status.COMPLETED)
    for feedback in completed.values_list("feedback", flat=True):
        summary = finding_summary(ReviewResult.from_json(feedback))
        categories.update(summary.by_category)
        severities.update(summary.by_severity)
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
