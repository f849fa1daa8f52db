"""The allow-list in the admin: which mode is on, installations and their repositories, and
what an operator may set on each repository."""

from decimal import Decimal

import pytest

from reviews.models import Installation, InstallationEvent, Repository

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    installation = Installation.objects.create(
        id=11, account_login="acme", account_type="Organization"
    )
    Repository.objects.create(installation=installation, github_id=1, full_name="acme/api")
    return installation


def test_the_home_page_says_personal_token_mode(staff_client):
    html = staff_client.get("/admin/").content.decode()

    assert "Mode: <strong>personal token</strong>" in html
    assert "/admin/reviews/repository/" not in html.split('id="prism-mode"')[1].split("</p>")[0]


def test_the_home_page_says_app_mode_and_leads_to_the_repositories(staff_client, app_mode):
    html = staff_client.get("/admin/").content.decode()

    assert "Mode: <strong>GitHub App 4242</strong>" in html
    assert 'href="/admin/reviews/repository/"' in html


def test_installations_list_their_repositories(staff_client, app_mode, acme):
    response = staff_client.get("/admin/reviews/installation/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Installations · GitHub App 4242" in html
    assert "acme" in html and "Organization" in html
    page = staff_client.get("/admin/reviews/installation/11/change/").content.decode()
    assert "acme/api" in page


def test_an_operator_disables_a_repository_and_sets_its_model_and_budgets(staff_client, acme):
    repository = Repository.objects.get()

    response = staff_client.post(
        f"/admin/reviews/repository/{repository.id}/change/",
        {
            "enabled": "",
            "model": "openai/gpt-4o",
            "daily_budget": "5.00",
            "monthly_budget": "100",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    repository.refresh_from_db()
    assert repository.enabled is False
    assert repository.model == "openai/gpt-4o"
    assert (repository.daily_budget, repository.monthly_budget) == (
        Decimal("5.00"),
        Decimal("100.00"),
    )
    assert repository.full_name == "acme/api"  # read-only: GitHub owns it


def test_a_budget_with_fractions_of_cents_is_refused(staff_client, acme):
    repository = Repository.objects.get()

    response = staff_client.post(
        f"/admin/reviews/repository/{repository.id}/change/",
        {"enabled": "on", "model": "", "daily_budget": "0.001", "monthly_budget": ""},
    )

    assert response.status_code == 200  # the form again, with the error
    repository.refresh_from_db()
    assert repository.daily_budget is None


def test_repositories_and_installations_are_not_added_by_hand(staff_client, acme):
    assert staff_client.get("/admin/reviews/repository/add/").status_code == 403
    assert staff_client.get("/admin/reviews/installation/add/").status_code == 403


def test_installation_deliveries_are_listed_read_only(staff_client, acme):
    event = InstallationEvent.objects.create(
        delivery_id="d-1",
        event="installation_repositories",
        action="added",
        installation_id=11,
        outcome="added acme/<b>x</b> (enabled)",
    )

    html = staff_client.get("/admin/reviews/installationevent/").content.decode()

    assert "added acme/&lt;b&gt;x&lt;/b&gt; (enabled)" in html
    page = staff_client.get(f"/admin/reviews/installationevent/{event.id}/change/")
    assert page.status_code == 200
    assert 'name="outcome"' not in page.content.decode()  # nothing to edit
