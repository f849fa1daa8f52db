"""Reads over analyses and the findings ledger for the API, the admin and the commands;
nothing here writes.

Questions about findings across reviews ("analyses with a high finding") are asked of the
ledger's rows (`reviews.models.Finding`), plain ORM on every database. One review's own
counts still come from its stored feedback, which is that review's record.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import CharField, Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Cast, Coalesce, Substr
from django.utils import timezone

from reviews.models import Analysis, Command, Finding, PullRequestState
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
    first = timezone.now().astimezone(UTC).date() - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    recent = Analysis.objects.filter(created_at__gte=since)
    calendar = [first + timedelta(days=n) for n in range(days)]
    day_rows = {day: _empty_row(day=day) for day in calendar}
    repositories: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}

    # Grouped in the database: a month of reviews is thousands of rows, its groups fewer.
    dimensions: list[tuple[str, str, Any]] = [
        ("day", "day", lambda value: day_rows.get(_parse_day(value) or first - timedelta(1))),
        (
            "repo_full_name",
            "repo_full_name",
            lambda value: (
                repositories.get(value)
                or repositories.setdefault(value, _empty_row(repo_full_name=value))
            ),
        ),
        (
            "llm_model",
            "analysis__llm_model",
            lambda value: (
                models.get(value or "")
                or models.setdefault(value or "", _empty_row(model=value or ""))
            ),
        ),
    ]
    spend = recent.order_by().annotate(day=_utc_day("created_at"))
    # Each pull request head once: its latest attempt's outcome, day and model.
    latest = (
        recent.order_by()
        .values("repo_full_name", "pr_number", "head_sha")
        .annotate(last=Max("id"))
        .values("last")
    )
    heads = Analysis.objects.filter(id__in=latest).order_by().annotate(day=_utc_day("created_at"))
    raised = (
        Finding.objects.filter(analysis__created_at__gte=since)
        .order_by()
        .annotate(day=_utc_day("analysis__created_at"))
    )

    def buckets(day: Any, repo: str, model: str | None) -> list[dict[str, Any]]:
        found = [
            bucket_of(value)
            for (_, _, bucket_of), value in zip(dimensions, (day, repo, model), strict=True)
        ]
        return [bucket for bucket in found if bucket is not None]

    for row in spend.values("day", "repo_full_name", "llm_model").annotate(
        attempts=Count("id"),
        prompt=Sum("prompt_tokens"),
        completion=Sum("completion_tokens"),
        spent=Sum("cost"),
    ):
        prompt, completion = row["prompt"] or 0, row["completion"] or 0
        for bucket in buckets(row["day"], row["repo_full_name"], row["llm_model"]):
            bucket["attempts"] += row["attempts"]
            bucket["prompt_tokens"] += prompt
            bucket["completion_tokens"] += completion
            bucket["tokens"] += prompt + completion
            bucket["cost"] += row["spent"] or Decimal(0)
    for head in heads.values("day", "repo_full_name", "llm_model", "status").annotate(
        n=Count("id")
    ):
        outcome = head["status"] if head["status"] in ("completed", "failed") else "other"
        for bucket in buckets(head["day"], head["repo_full_name"], head["llm_model"]):
            bucket["reviews"] += head["n"]
            bucket[outcome] += head["n"]
    # Findings: one dimension at a time (with the severity, the groups multiply otherwise).
    for _, finding_field, bucket_of in dimensions:
        for row in raised.values(finding_field, "severity").annotate(n=Count("id")):
            bucket = bucket_of(row[finding_field])
            if bucket is not None and row["severity"] in bucket["findings"]:
                bucket["findings"][row["severity"]] += row["n"]
                bucket["findings_total"] += row["n"]
    categories = Counter(
        {row["category"]: row["n"] for row in raised.values("category").annotate(n=Count("id"))}
    )
    severities: Counter[str] = Counter()
    for day_row in day_rows.values():
        severities.update(day_row["findings"])
    rows = [_finish(row) for row in day_rows.values()]
    totals = _finish(_empty_row())
    for day_row in rows:
        for key in ("reviews", "attempts", *OUTCOMES, "tokens", "cost", "findings_total"):
            totals[key] += day_row[key]
        for severity, n in day_row["findings"].items():
            totals["findings"][severity] += n
    totals = _finish(totals)
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


def _utc_day(field: str) -> Substr:
    """A timestamp's UTC date as "YYYY-MM-DD", computed by the database itself.

    Not TruncDate: on SQLite that calls back into Python for every row (a month of reviews
    is thousands). The connection works in UTC (USE_TZ), and so do Prism's days (TIME_ZONE).
    """
    return Substr(Cast(field, output_field=CharField()), 1, 10)


def _parse_day(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        return None


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


def pull_request_state(repo: str, number: int) -> PullRequestState | None:
    """What commands set on a pull request (paused or not); None when none ever did."""
    return PullRequestState.objects.filter(repo_full_name=repo, pr_number=number).first()


@dataclass(frozen=True)
class QueueState:
    queued: int  # waiting for a worker, due or waiting out a retry's countdown
    running: int
    oldest_due_seconds: float  # how long the longest-waiting due review has waited; 0 if none


def queue_state(*, now: datetime | None = None) -> QueueState:
    """The queue as /metrics reports it. Three small reads on the (status, created_at) index:
    queued and running reviews are few, whatever the size of the table.

    A review waits from its creation, or from the end of its retry's countdown when it has
    one: one waiting out a rate limit's hour is not late.
    """
    now = now or timezone.now()
    queued = Analysis.objects.filter(status=Analysis.Status.QUEUED)
    due = queued.filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
    since = due.aggregate(since=Min(Coalesce("retry_at", "created_at")))["since"]
    return QueueState(
        queued=queued.count(),
        running=Analysis.objects.filter(status=Analysis.Status.RUNNING).count(),
        oldest_due_seconds=max(0.0, (now - since).total_seconds()) if since else 0.0,
    )


def analysis_log_fields(*, analysis_id: int) -> dict[str, Any]:
    """What every log line of this review carries (reviews/logs.py)."""
    row = (
        Analysis.objects.filter(id=analysis_id)
        .values_list("delivery_id", "repo_full_name", "pr_number")
        .first()
    )
    delivery_id, repo, pr = row if row is not None else (None, None, None)
    return {"analysis_id": analysis_id, "delivery_id": delivery_id, "repo": repo, "pr": pr}


def command_log_fields(*, command_id: int) -> dict[str, Any]:
    """What every log line of this command carries (reviews/logs.py)."""
    row = (
        Command.objects.filter(id=command_id)
        .values_list("delivery_id", "repo_full_name", "pr_number")
        .first()
    )
    delivery_id, repo, pr = row if row is not None else (None, None, None)
    return {"command_id": command_id, "delivery_id": delivery_id or None, "repo": repo, "pr": pr}
