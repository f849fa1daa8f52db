"""Which kinds of finding people reject: findings raised, dismissed, 👍 and 👎, by category, by
severity and by model (the model of the review that raised the finding). Reads only.

Grouped by the database (plain ORM aggregates, every database alike), over the ledger: each
finding of a pull request counts once, in the window of the review that first raised it, as
the admin's overview counts findings.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from reviews.models import Finding
from reviews.results import CATEGORIES, SEVERITIES

DIMENSIONS = {"category": "category", "severity": "severity", "model": "analysis__llm_model"}


@dataclass(frozen=True)
class FeedbackRow:
    key: str  # the category, severity or model ("" for a review that recorded none)
    raised: int
    dismissed: int
    thumbs_up: int
    thumbs_down: int
    read: int  # findings whose inline comment's reactions were read (their PR closed)

    @property
    def dismissal_rate(self) -> float | None:
        """Dismissed findings of those raised; None when none was raised."""
        return self.dismissed / self.raised if self.raised else None


@dataclass(frozen=True)
class FeedbackFigures:
    since: date
    days: int
    repo: str
    totals: FeedbackRow
    by_category: list[FeedbackRow]
    by_severity: list[FeedbackRow]
    by_model: list[FeedbackRow]


def finding_feedback(*, days: int = 30, repo: str = "") -> FeedbackFigures:
    """The figures over the last `days` days (UTC, today included), of one repository or all."""
    if days < 1:
        raise ValueError("days must be at least 1")
    first = timezone.now().astimezone(UTC).date() - timedelta(days=days - 1)
    findings = Finding.objects.filter(
        analysis__created_at__gte=datetime.combine(first, time.min, tzinfo=UTC)
    )
    if repo:
        findings = findings.filter(repo_full_name=repo)
    by = {name: _grouped(findings, field) for name, field in DIMENSIONS.items()}
    return FeedbackFigures(
        since=first,
        days=days,
        repo=repo,
        totals=_row("", findings.aggregate(**_AGGREGATES)),
        by_category=_ordered(by["category"], CATEGORIES),
        by_severity=_ordered(by["severity"], tuple(reversed(SEVERITIES))),
        by_model=sorted(by["model"].values(), key=lambda row: (-row.raised, row.key)),
    )


_AGGREGATES = {
    "raised": Count("id"),
    "dismissed": Count("id", filter=Q(state=Finding.State.DISMISSED)),
    "up": Sum("thumbs_up"),
    "down": Sum("thumbs_down"),
    "read": Count("id", filter=Q(reactions_read_at__isnull=False)),
}


def _grouped(findings: QuerySet[Finding], field: str) -> dict[str, FeedbackRow]:
    rows = findings.order_by().values(field).annotate(**_AGGREGATES)
    return {row[field] or "": _row(row[field] or "", row) for row in rows}


def _row(key: str, values: dict) -> FeedbackRow:
    return FeedbackRow(
        key=key,
        raised=values["raised"] or 0,
        dismissed=values["dismissed"] or 0,
        thumbs_up=values["up"] or 0,
        thumbs_down=values["down"] or 0,
        read=values["read"] or 0,
    )


def _ordered(rows: dict[str, FeedbackRow], known: tuple[str, ...]) -> list[FeedbackRow]:
    """Prism's own order (bug first, critical first), every known key shown even at zero, and
    any other value the ledger holds after them."""
    return [rows.get(key) or _row(key, {k: 0 for k in _AGGREGATES}) for key in known] + [
        row for key, row in sorted(rows.items()) if key not in known
    ]
