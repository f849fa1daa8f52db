"""Budgets in money: whether a review may make its model calls, decided before the first one.

The caps: a repository's daily and monthly budgets (its `Repository` row, in App mode or
not) and Prism's own daily cap over every repository (BUDGET_DAILY_USD). Days and months are
UTC. What counts against a cap is what was actually spent (each analysis's `cost`, from the
provider's usage, every attempt included) plus what the reviews running now are estimated to
spend (their `cost_estimate`). An analysis's spend counts in the period its last attempt
started in.

A review reserves its estimate first and only then adds up: two reviews deciding at once
each see the other's reservation, so at worst both are refused, never both let through.
"""

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from reviews import services
from reviews.models import Analysis, Command, Repository
from reviews.pricing import Price, dollars, price_of

DAILY, MONTHLY = "daily", "monthly"
GLOBAL_OWNER = "Prism"
MARKS = (50, 75, 90, 100)  # percent of a cap the admin marks

# The budgets' clock; tests replace it.
clock: Callable[[], datetime] = timezone.now


@dataclass(frozen=True)
class Cap:
    """One ceiling: `repo` None for Prism's cap over every repository."""

    period: str  # DAILY or MONTHLY
    limit: Decimal
    repo: str | None = None

    @property
    def owner(self) -> str:
        return self.repo or GLOBAL_OWNER

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The UTC day or month `now` falls in: [start, end)."""
        now = now.astimezone(UTC)
        if self.period == DAILY:
            start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            return start, start + timedelta(days=1)
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        days = calendar.monthrange(start.year, start.month)[1]
        return start, start + timedelta(days=days)

    def resets(self, now: datetime) -> str:
        """ "00:00 UTC" for a day; "1 Feb 00:00 UTC" for a month."""
        if self.period == DAILY:
            return "00:00 UTC"
        end = self.window(now)[1]
        return f"1 {calendar.month_abbr[end.month]} 00:00 UTC"

    def reason(self, now: datetime) -> str:
        """ "octo/widgets reached its $5.00 daily budget (resets 00:00 UTC)" """
        return (
            f"{self.owner} reached its {dollars(self.limit)} {self.period} budget "
            f"(resets {self.resets(now)})"
        )


@dataclass(frozen=True)
class Refusal:
    """Why a review makes no model call: the cap it would cross, or no price to check it."""

    title: str  # "Not reviewed: octo/widgets reached its $5.00 daily budget (resets 00:00 UTC)"
    detail: str

    @property
    def error(self) -> str:
        return f"{self.title}. {self.detail}"


class OverBudget(Exception):
    """Raised before the first model call of a review that may not spend."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.error)
        self.refusal = refusal


def caps_for(repo: str) -> list[Cap]:
    """The caps a review of `repo` is held to: its repository's, then Prism's."""
    caps = []
    row = Repository.objects.filter(full_name__iexact=repo).first()
    if row is not None:
        if row.daily_budget is not None:
            caps.append(Cap(DAILY, row.daily_budget, row.full_name))
        if row.monthly_budget is not None:
            caps.append(Cap(MONTHLY, row.monthly_budget, row.full_name))
    if settings.BUDGET_DAILY_USD is not None:
        caps.append(Cap(DAILY, settings.BUDGET_DAILY_USD))
    return caps


def spent(cap: Cap, now: datetime) -> Decimal:
    """What counts against `cap` in its current period: spent, plus reserved by running
    reviews, plus what questions (`@prism ask`) cost."""
    rows = _in_window(cap, now)
    totals = rows.aggregate(
        cost=Sum("cost"),
        reserved=Sum("cost_estimate", filter=Q(status=Analysis.Status.RUNNING)),
    )
    asked = _questions_in_window(cap, now).aggregate(cost=Sum("cost"))["cost"]
    return (totals["cost"] or Decimal(0)) + (totals["reserved"] or Decimal(0)) + (asked or 0)


def _in_window(cap: Cap, now: datetime) -> QuerySet[Analysis]:
    start, end = cap.window(now)
    rows = Analysis.objects.alias(at=Coalesce("started_at", "created_at")).filter(
        at__gte=start, at__lt=end
    )
    return rows.filter(repo_full_name__iexact=cap.repo) if cap.repo else rows


def _questions_in_window(cap: Cap, now: datetime) -> QuerySet[Command]:
    start, end = cap.window(now)
    rows = Command.objects.alias(at=Coalesce("started_at", "created_at")).filter(
        at__gte=start, at__lt=end, cost__isnull=False
    )
    return rows.filter(repo_full_name__iexact=cap.repo) if cap.repo else rows


def estimate(price: Price, *, prompt_tokens: int, calls: int) -> Decimal:
    """The most a review's calls may cost: every prompt token, and every call answering as
    long as LLM_MAX_OUTPUT_TOKENS lets it. A cap is a ceiling: a review is refused when it
    could cross it, not only when it surely would."""
    return price.cost(prompt_tokens, calls * settings.LLM_MAX_OUTPUT_TOKENS)


def admit(
    *, analysis_id: int, repo: str, model: str, prompt_tokens: int, calls: int
) -> Refusal | None:
    """Whether the review may make its `calls` model calls; None: go ahead.

    A review without a call, or without a cap to answer to, is never refused. A cap whose
    model has no price in LLM_PRICES refuses: the operator asked for a ceiling that Prism
    could not otherwise keep.
    """
    caps = caps_for(repo)
    if not caps or not calls:
        return None
    now = clock()
    price = price_of(settings.LLM_PRICES, model)
    if price is None:
        return Refusal(
            title=f"Not reviewed: no price for {model} in LLM_PRICES",
            detail=f"{caps[0].owner} has a {caps[0].period} budget, and without the model's "
            "price its cost cannot be checked against it.",
        )
    cost = estimate(price, prompt_tokens=prompt_tokens, calls=calls)
    if not services.analysis_reserve_cost(analysis_id=analysis_id, estimate=cost):
        return None  # no longer running: whoever holds it now decides
    for cap in caps:
        total = spent(cap, now)  # this review's reservation included
        if total > cap.limit:
            return Refusal(
                title=f"Not reviewed: {cap.reason(now)}",
                detail=f"Spent {dollars(total - cost)} this {_period_noun(cap)} of "
                f"{dollars(cap.limit)}; this review was estimated at up to {dollars(cost)} "
                f"({prompt_tokens:,} prompt tokens in {calls:,} call{'s' if calls != 1 else ''} "
                f"to {model}).",
            )
    return None


def admit_question(*, repo: str, model: str, prompt_tokens: int) -> Refusal | None:
    """Whether a question (`@prism ask`: one call to `model`) may be asked; None: go ahead.

    Held to the same caps as a review, with its estimate (the whole prompt, the longest
    answer) added to what was spent. Unlike a review's, the estimate is not reserved: two
    questions deciding at the same instant may both pass, each one call."""
    caps = caps_for(repo)
    if not caps:
        return None
    now = clock()
    price = price_of(settings.LLM_PRICES, model)
    if price is None:
        return Refusal(
            title=f"Not answered: no price for {model} in LLM_PRICES",
            detail=f"{caps[0].owner} has a {caps[0].period} budget, and without the model's "
            "price a question's cost cannot be checked against it.",
        )
    cost = estimate(price, prompt_tokens=prompt_tokens, calls=1)
    for cap in caps:
        total = spent(cap, now)
        if total + cost > cap.limit:
            return Refusal(
                title=f"Not answered: {cap.reason(now)}",
                detail=f"Spent {dollars(total)} this {_period_noun(cap)} of "
                f"{dollars(cap.limit)}; the question was estimated at up to {dollars(cost)}.",
            )
    return None


def _period_noun(cap: Cap) -> str:
    return "day" if cap.period == DAILY else "month"


@dataclass(frozen=True)
class Standing:
    """A cap and what counts against it now, for the admin."""

    cap: Cap
    spent: Decimal

    @property
    def percent(self) -> int:
        if not self.cap.limit:
            return 100 if self.spent else 0
        return int(self.spent * 100 / self.cap.limit)

    @property
    def mark(self) -> int:
        """The highest of MARKS reached (0: none)."""
        return max((mark for mark in MARKS if self.percent >= mark), default=0)


def standings(now: datetime | None = None) -> list[Standing]:
    """Every cap with its spend in its current period: Prism's first, then each repository's."""
    now = now or clock()
    caps = [Cap(DAILY, settings.BUDGET_DAILY_USD)] if settings.BUDGET_DAILY_USD is not None else []
    for row in Repository.objects.filter(
        Q(daily_budget__isnull=False) | Q(monthly_budget__isnull=False)
    ).order_by("full_name"):
        if row.daily_budget is not None:
            caps.append(Cap(DAILY, row.daily_budget, row.full_name))
        if row.monthly_budget is not None:
            caps.append(Cap(MONTHLY, row.monthly_budget, row.full_name))
    return [Standing(cap, spent(cap, now)) for cap in caps]
