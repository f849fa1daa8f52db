"""Budgets in money (reviews/budgets.py, reviews/pricing.py): the arithmetic, UTC day and month
boundaries on a fake clock, reservations of running reviews, and the refusal's words."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from reviews import budgets, pricing
from reviews.models import Analysis, Installation, Repository
from reviews.results import Usage

pytestmark = pytest.mark.django_db

REPO = "octo/widgets"
PRICES = {"acme/model": {"input": Decimal("2"), "output": Decimal("10")}}


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0):
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def now(monkeypatch):
    """The budgets' clock, set by the test: `now.set(at(...))`."""

    class Clock:
        value = at(2026, 3, 15, 12, 0)

        def set(self, value: datetime) -> None:
            self.value = value

    clock = Clock()
    monkeypatch.setattr(budgets, "clock", lambda: clock.value)
    return clock


@pytest.fixture
def capped(db):
    """Set octo/widgets' caps: `capped(daily="5.00", monthly=None)`."""

    def cap(daily: str | None = None, monthly: str | None = None) -> Repository:
        installation, _ = Installation.objects.get_or_create(id=1, account_login="octo")
        row, _ = Repository.objects.update_or_create(
            full_name=REPO,
            defaults={
                "installation": installation,
                "daily_budget": Decimal(daily) if daily else None,
                "monthly_budget": Decimal(monthly) if monthly else None,
            },
        )
        return row

    return cap


@pytest.fixture
def spend(make_analysis):
    """A review that spent `cost` dollars, started at `when`."""

    def spend(cost: str, when: datetime, repo: str = REPO, **fields) -> Analysis:
        analysis = make_analysis(repo_full_name=repo, **fields)
        Analysis.objects.filter(pk=analysis.pk).update(cost=Decimal(cost), started_at=when)
        return analysis

    return spend


@pytest.fixture
def running(make_analysis):
    """The review deciding, claimed by a worker on the fake clock's day."""
    return make_analysis(
        repo_full_name=REPO, status=Analysis.Status.RUNNING, started_at=at(2026, 3, 15, 12)
    )


@pytest.fixture(autouse=True)
def _prices(settings):
    settings.LLM_PRICES = PRICES
    settings.LLM_MAX_OUTPUT_TOKENS = 1_000
    settings.BUDGET_DAILY_USD = None


def admit(analysis: Analysis, *, prompt_tokens: int = 100_000, calls: int = 2, model="acme/model"):
    # 100,000 prompt tokens at $2/M + 2 calls x 1,000 output tokens at $10/M = $0.22
    return budgets.admit(
        analysis_id=analysis.id, repo=REPO, model=model, prompt_tokens=prompt_tokens, calls=calls
    )


def test_the_estimate_is_every_prompt_token_and_the_longest_answers(settings):
    price = pricing.price_of(PRICES, "acme/model")
    assert price is not None
    assert budgets.estimate(price, prompt_tokens=100_000, calls=2) == Decimal("0.22")


def test_a_review_within_its_daily_budget_goes_ahead_and_reserves_its_estimate(
    now, capped, spend, running
):
    capped(daily="5.00")
    spend("4.78", at(2026, 3, 15, 1, 0))

    assert admit(running) is None

    running.refresh_from_db()
    assert running.cost_estimate == Decimal("0.22")


def test_a_review_that_would_cross_the_daily_budget_is_refused_with_the_reason(
    now, capped, spend, running
):
    capped(daily="5.00")
    spend("4.79", at(2026, 3, 15, 1, 0))

    refusal = admit(running)

    assert refusal is not None
    assert refusal.title == (
        "Not reviewed: octo/widgets reached its $5.00 daily budget (resets 00:00 UTC)"
    )
    assert "Spent $4.79 this day of $5.00" in refusal.detail
    assert "estimated at up to $0.22" in refusal.detail


def test_yesterdays_spend_does_not_count_today(now, capped, spend, running):
    capped(daily="5.00")
    spend("4.99", at(2026, 3, 14, 23, 59, 59))
    now.set(at(2026, 3, 15, 0, 0, 0))

    assert admit(running) is None


def test_spend_at_the_first_second_of_the_day_counts(now, capped, spend, running):
    capped(daily="5.00")
    spend("4.99", at(2026, 3, 15, 0, 0, 0))
    now.set(at(2026, 3, 15, 23, 59, 59))

    assert admit(running) is not None


def test_a_monthly_budget_counts_the_whole_utc_month(now, capped, spend, running):
    capped(monthly="10.00")
    spend("5.00", at(2026, 2, 28, 23, 59, 59))  # last month: not counted
    spend("4.00", at(2026, 3, 1, 0, 0))
    spend("5.00", at(2026, 3, 14, 9, 0))
    now.set(at(2026, 3, 31, 23, 59))
    assert admit(running) is None  # 9.00 + 0.22

    spend("0.90", at(2026, 3, 31, 20, 0))
    refusal = admit(running)

    assert refusal is not None
    assert refusal.title == (
        "Not reviewed: octo/widgets reached its $10.00 monthly budget (resets 1 Apr 00:00 UTC)"
    )
    now.set(at(2026, 4, 1, 0, 0))
    assert admit(running) is None


@pytest.mark.parametrize(
    ("moment", "start", "end"),
    [
        (at(2024, 2, 29, 10), at(2024, 2, 1), at(2024, 3, 1)),  # a leap February
        (at(2026, 12, 31, 23, 59), at(2026, 12, 1), at(2027, 1, 1)),  # the year turns
        (at(2026, 1, 1, 0, 0), at(2026, 1, 1), at(2026, 2, 1)),
    ],
)
def test_months_are_utc_calendar_months(moment, start, end):
    assert budgets.Cap(budgets.MONTHLY, Decimal(1)).window(moment) == (start, end)


def test_a_day_is_a_utc_day_whatever_the_time_zone_of_the_clock():
    from zoneinfo import ZoneInfo

    late_in_new_york = datetime(2026, 3, 15, 21, 0, tzinfo=ZoneInfo("America/New_York"))

    assert budgets.Cap(budgets.DAILY, Decimal(1)).window(late_in_new_york) == (
        at(2026, 3, 16),
        at(2026, 3, 17),
    )


def test_running_reviews_reservations_count_finished_ones_do_not(
    now, capped, make_analysis, running
):
    capped(daily="1.00")
    other = make_analysis(repo_full_name=REPO, status=Analysis.Status.RUNNING)
    Analysis.objects.filter(pk=other.pk).update(
        cost_estimate=Decimal("0.80"), started_at=at(2026, 3, 15, 11)
    )
    done = make_analysis(repo_full_name=REPO, status=Analysis.Status.COMPLETED)
    Analysis.objects.filter(pk=done.pk).update(
        cost_estimate=Decimal("0.90"), cost=Decimal("0.01"), started_at=at(2026, 3, 15, 11)
    )

    # 0.80 reserved + 0.01 spent + 0.22 for this one > 1.00
    assert admit(running) is not None
    Analysis.objects.filter(pk=other.pk).update(status=Analysis.Status.COMPLETED)
    assert admit(running) is None


def test_two_reviews_deciding_at_once_never_both_go_through(now, capped, make_analysis):
    capped(daily="0.30")
    first = make_analysis(repo_full_name=REPO, status=Analysis.Status.RUNNING)
    second = make_analysis(repo_full_name=REPO, status=Analysis.Status.RUNNING)
    Analysis.objects.filter(pk__in=[first.pk, second.pk]).update(started_at=at(2026, 3, 15, 11))
    # The second reserved before the first added up: the first sees it.
    Analysis.objects.filter(pk=second.pk).update(cost_estimate=Decimal("0.22"))

    assert admit(first) is not None


def test_the_global_cap_counts_every_repository(now, settings, spend, running):
    settings.BUDGET_DAILY_USD = Decimal("2.00")
    spend("1.90", at(2026, 3, 15, 3), repo="someone/else")

    refusal = admit(running)

    assert refusal is not None
    assert refusal.title == "Not reviewed: Prism reached its $2.00 daily budget (resets 00:00 UTC)"


def test_repository_caps_match_its_name_whatever_the_case(now, capped, spend, running):
    capped(daily="1.00")
    spend("0.90", at(2026, 3, 15, 3), repo="Octo/Widgets")

    assert admit(running) is not None


def test_without_a_cap_nothing_is_refused_or_reserved(now, spend, running):
    spend("1000", at(2026, 3, 15, 3))

    assert admit(running, model="unpriced/model") is None
    running.refresh_from_db()
    assert running.cost_estimate is None


def test_a_review_without_a_model_call_is_never_refused(now, capped, spend, running):
    capped(daily="0")

    assert admit(running, prompt_tokens=0, calls=0) is None


def test_a_capped_review_of_an_unpriced_model_is_refused(now, capped, running):
    capped(daily="5.00")

    refusal = admit(running, model="unpriced/model")

    assert refusal is not None
    assert refusal.title == "Not reviewed: no price for unpriced/model in LLM_PRICES"


def test_the_provider_reported_cost_wins_over_the_price_table():
    price = pricing.price_of(PRICES, "acme/model")
    reported = Usage(
        model="acme/model", prompt_tokens=1000, completion_tokens=100, cost=0.5, calls=1
    )
    unreported = Usage(
        model="acme/model", prompt_tokens=1_000_000, completion_tokens=100_000, calls=1
    )

    assert pricing.priced(reported, price).cost == 0.5
    assert pricing.priced(unreported, price).cost == 3.0  # $2 + $1
    assert pricing.priced(unreported, None).cost is None


def test_the_price_of_the_model_asked_for_comes_first():
    table = {
        "a": {"input": Decimal(1), "output": Decimal(1)},
        "b": {"input": Decimal(5), "output": Decimal(5)},
    }

    assert pricing.price_of(table, "", "b") == pricing.Price(Decimal(5), Decimal(5))
    assert pricing.price_of(table, "a", "b") == pricing.Price(Decimal(1), Decimal(1))
    assert pricing.price_of(table, "c") is None


@pytest.mark.parametrize(
    ("amount", "text"),
    [("5", "$5.00"), ("0.01", "$0.01"), ("1250", "$1,250.00"), ("0.005", "$0.005")],
)
def test_dollars_read_as_people_write_them(amount, text):
    assert pricing.dollars(Decimal(amount)) == text


def test_standings_mark_50_75_90_and_100_percent(now, capped, spend, settings):
    capped(daily="10.00", monthly="100.00")
    settings.BUDGET_DAILY_USD = Decimal("20.00")
    spend("9.10", at(2026, 3, 15, 3))
    spend("70.00", at(2026, 3, 2, 3))

    rows = {(s.cap.owner, s.cap.period): s for s in budgets.standings()}

    assert (rows["Prism", "daily"].percent, rows["Prism", "daily"].mark) == (45, 0)
    assert (rows[REPO, "daily"].percent, rows[REPO, "daily"].mark) == (91, 90)
    assert (rows[REPO, "monthly"].percent, rows[REPO, "monthly"].mark) == (79, 75)


def test_the_api_detail_shows_the_estimate_and_the_check_run(client, admin_user, make_analysis):
    analysis = make_analysis(status=Analysis.Status.SKIPPED, check_run_id=4)
    Analysis.objects.filter(pk=analysis.pk).update(cost_estimate=Decimal("0.063"))
    client.force_login(admin_user)

    body = client.get(f"/api/analyses/{analysis.pk}/").json()

    assert (body["cost_estimate"], body["check_run_id"]) == ("0.063000", 4)
