"""The admin's Budgets page: each cap with its spend in the current UTC period, marked at 50,
75, 90 and 100%, linked from the admin home."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from reviews import budgets
from reviews.models import Analysis, Installation, Repository

pytestmark = pytest.mark.django_db

URL = "/admin/reviews/analysis/budgets/"
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    monkeypatch.setattr(budgets, "clock", lambda: NOW)


def spent(make_analysis, repo: str, cost: str) -> None:
    analysis = make_analysis(repo_full_name=repo, status=Analysis.Status.COMPLETED)
    Analysis.objects.filter(pk=analysis.pk).update(cost=Decimal(cost), started_at=NOW)


def test_the_page_shows_spend_against_each_budget_with_its_mark(
    staff_client, make_analysis, settings
):
    settings.BUDGET_DAILY_USD = Decimal("20.00")
    installation = Installation.objects.create(id=1, account_login="octo")
    Repository.objects.create(
        installation=installation,
        full_name="octo/widgets",
        daily_budget=Decimal("5.00"),
        monthly_budget=Decimal("100.00"),
    )
    Repository.objects.create(installation=installation, full_name="octo/<b>x</b>")  # no cap
    spent(make_analysis, "octo/widgets", "4.60")
    spent(make_analysis, "octo/other", "6.00")

    page = staff_client.get(URL).content.decode()

    rows = page[page.index('id="prism-budgets"') :]
    assert rows.index("Prism") < rows.index("octo/widgets")
    assert "$10.60" in rows and "$20.00" in rows and "53%" in rows  # every repository
    assert "$4.60" in rows and "$5.00" in rows and "92%" in rows and "(past 90%)" in rows
    assert "prism-budget-near" in rows and "1 Apr 00:00 UTC" in rows
    assert "octo/<b>x</b>" not in page  # a repository without a cap has no row
    assert "repo_full_name=octo%2Fwidgets" in rows


def test_a_cap_that_is_spent_shows_as_over(staff_client, make_analysis, settings):
    settings.BUDGET_DAILY_USD = Decimal("1.00")
    spent(make_analysis, "octo/widgets", "1.20")

    page = staff_client.get(URL).content.decode()

    assert "prism-budget-over" in page and "120%" in page and "(past 100%)" in page


def test_without_budgets_the_page_says_so_and_the_home_links_it(staff_client, settings):
    settings.BUDGET_DAILY_USD = None

    assert 'id="prism-no-budgets"' in staff_client.get(URL).content.decode()
    assert URL in staff_client.get("/admin/").content.decode()


def test_the_page_needs_a_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_analysis_page_shows_the_estimate_beside_the_cost(staff_client, make_analysis):
    analysis = make_analysis(status=Analysis.Status.SKIPPED, error="Not reviewed: over budget.")
    Analysis.objects.filter(pk=analysis.pk).update(cost_estimate=Decimal("0.0631"))

    page = staff_client.get(f"/admin/reviews/analysis/{analysis.pk}/change/").content.decode()

    assert "(estimated up to $0.0631 before the first call)" in page


def test_a_budgets_link_opens_the_filtered_list(staff_client, make_analysis, settings):
    settings.BUDGET_DAILY_USD = Decimal("1.00")
    spent(make_analysis, "octo/widgets", "0.10")
    page = staff_client.get(URL).content.decode()
    link = page[page.index("/admin/reviews/analysis/?") :].split('"')[0].replace("&amp;", "&")

    response = staff_client.get(link)

    # A lookup the admin does not allow would answer 302 to "?e=1".
    assert response.status_code == 200
    assert "octo/widgets" in response.content.decode()
