"""`github_app_manifest` and `sync_installations`."""

import json
from io import StringIO

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from reviews.models import Installation, Repository
from tests.fixtures import github_response
from tests.openapi import assert_valid_request

API = "https://api.github.test"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_manifest_asks_for_what_prism_needs_and_points_the_webhook_at_it():
    out, _ = run("github_app_manifest", "--url", "https://prism.example.com/")

    described = json.loads(out)
    assert described["url"] == "https://prism.example.com"
    assert described["hook_attributes"] == {
        "url": "https://prism.example.com/webhooks/github/",
        "active": True,
    }
    assert described["default_permissions"] == {
        "pull_requests": "write",
        "contents": "read",
        "checks": "write",
        "statuses": "write",
        "issues": "write",
        "metadata": "read",
    }
    assert described["default_events"] == [
        "pull_request",
        "issue_comment",
        "pull_request_review_comment",
        "installation",
        "installation_repositories",
        "check_run",
    ]
    assert described["redirect_url"] == "https://prism.example.com/admin/"
    assert described["setup_url"] == "https://prism.example.com/admin/reviews/repository/"
    assert described["public"] is False


def test_the_webhook_url_of_the_manifest_is_the_one_prism_serves(client):
    described = json.loads(run("github_app_manifest", "--url", "https://prism.example.com")[0])
    path = described["hook_attributes"]["url"].removeprefix("https://prism.example.com")

    # Unsigned: answered by the webhook view (401), not a 404.
    assert client.post(path, data=b"{}", content_type="application/json").status_code in (
        401,
        403,
    )


def test_the_manifest_form_posts_it_to_the_organisations_new_app_page():
    out, _ = run("github_app_manifest", "--url", "https://prism.example.com", "--html", "acme")

    assert 'action="https://github.com/organizations/acme/settings/apps/new"' in out
    assert "&quot;hook_attributes&quot;" in out  # the JSON, escaped inside the attribute


@pytest.mark.parametrize(
    "args",
    [
        ("--url", "prism.example.com"),
        ("--url", "https://prism.example.com/?x=1"),
        ("--url", "https://p.example.com", "--name", "x" * 35),
        ("--url", "https://p.example.com", "--html", "acme/../evil"),
    ],
)
def test_bad_manifest_options_are_refused(args):
    with pytest.raises(CommandError):
        run("github_app_manifest", *args)


def test_sync_needs_app_mode(db):
    with pytest.raises(CommandError, match="personal-token mode"):
        run("sync_installations")


@pytest.mark.django_db
@responses.activate(assert_all_requests_are_fired=True)
def test_sync_makes_the_rows_match_github_and_keeps_the_operators_settings(app_mode, settings):
    settings.AUTO_ENABLE_NEW_REPOS = False
    # Before: installation 1 with one kept and one revoked repository; installation 9 gone.
    one = Installation.objects.create(id=1, account_login="old-name")
    Repository.objects.create(
        installation=one, github_id=1296269, full_name="octocat/Hello-World", daily_budget="3.00"
    )
    Repository.objects.create(installation=one, github_id=5, full_name="octocat/Revoked")
    Repository.objects.create(
        installation=Installation.objects.create(id=9, account_login="gone"),
        github_id=6,
        full_name="gone/repo",
    )
    listed = github_response("apps.list-installations.200.default.json")
    suspended = {**listed[0], "id": 3, "suspended_at": "2026-11-01T00:00:00Z"}
    responses.get(f"{API}/app/installations", json=[*listed, suspended])
    token = github_response("apps.create-installation-access-token.201.default.json")
    token["expires_at"] = "2099-01-01T00:00:00Z"
    responses.post(f"{API}/app/installations/1/access_tokens", json=token, status=201)
    first = github_response("apps.list-repos-accessible-to-installation.200.default.json")
    responses.get(
        f"{API}/installation/repositories",
        json=first,
        headers={"Link": f'<{API}/installation/repositories?per_page=100&page=2>; rel="next"'},
        match=[responses.matchers.query_param_matcher({"per_page": "100"})],
    )
    new = {**first["repositories"][0], "id": 77, "full_name": "octocat/New"}
    responses.get(
        f"{API}/installation/repositories",
        json={"total_count": 2, "repositories": [new]},
        match=[responses.matchers.query_param_matcher({"per_page": "100", "page": "2"})],
    )

    out, err = run("sync_installations")

    assert "1 repositories added, 1 removed, 1 uninstalled" in out
    assert "added: octocat/New (disabled)" in out
    assert "repositories not read: installation 3: suspended" in err
    assert dict(Installation.objects.values_list("id", "account_login")) == {
        1: "octocat",
        3: "octocat",
    }
    assert Installation.objects.get(id=3).suspended
    rows = {r.full_name: r for r in Repository.objects.all()}
    assert set(rows) == {"octocat/Hello-World", "octocat/New"}
    assert str(rows["octocat/Hello-World"].daily_budget) == "3.00"
    assert rows["octocat/New"].enabled is False
    installation_calls = [c for c in responses.calls if "/installation/" in str(c.request.url)]
    for call in responses.calls:
        assert_valid_request(call.request)
    assert all(
        c.request.headers["Authorization"] == f"Bearer {token['token']}" for c in installation_calls
    )
