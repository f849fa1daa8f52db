"""GET /api/repositories/{owner}/{repo}/policy/: the effective policy, each key's source."""

import pytest
import responses
from django.contrib.auth import get_user_model
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests import stubs
from tests.github.test_client_contents import file_json
from tests.openapi import assert_valid_request

pytestmark = pytest.mark.django_db

URL = "/api/repositories/octo/widgets/policy/"
REPO_API = f"{stubs.API}/repos/octo/widgets"
POLICY = "version: 1\ninline_min_severity: high\nignore_paths: ['docs/**']\nmodel: evil/free\n"


@pytest.fixture
def api(settings) -> APIClient:
    settings.REPO_POLICY = True
    settings.LLM_ALLOWED_MODELS = ["openai/gpt-4o-mini"]
    _, key = AuthToken.objects.create(user=get_user_model().objects.create_user("reader"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def github():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        for call in mock.calls:
            assert_valid_request(call.request)


def test_it_shows_each_keys_value_and_where_it_came_from(api, github):
    github.get(REPO_API, json={"default_branch": "main"})
    github.get(f"{REPO_API}/contents/.github/prism.yml", json=file_json(POLICY))

    body = api.get(URL).json()

    assert body["repository"] == "octo/widgets"
    assert body["file"]["path"] == ".github/prism.yml" and body["file"]["ref"] == "main"
    settings = body["settings"]
    assert settings["inline_min_severity"] == {
        "value": "high",
        "source": "repository file",
        "note": "",
    }
    assert settings["fail_on_severity"]["source"] == "operator"
    assert "docs/**" in settings["ignore_paths"]["value"]
    # A model the operator does not allow is refused, and the API says why.
    assert settings["model"]["value"] != "evil/free"
    assert settings["model"]["note"]


def test_without_a_file_every_key_is_the_operators(api, github):
    github.get(REPO_API, json={"default_branch": "main"})
    github.get(f"{REPO_API}/contents/.github/prism.yml", status=404, json={"message": "Not Found"})
    github.get(f"{REPO_API}/contents/.prism.yml", status=404, json={"message": "Not Found"})

    body = api.get(URL).json()

    assert body["file"] is None and body["errors"] == []
    assert {s["source"] for s in body["settings"].values()} <= {"operator", "default"}


def test_an_unreadable_repository_is_a_502_and_a_bad_name_a_400(api, github):
    github.get(REPO_API, status=404, json={"message": "Not Found"})

    assert api.get(URL).status_code == 502
    too_long = "w" * 101  # GitHub's names stop at 100 characters
    response = api.get(f"/api/repositories/octo/{too_long}/policy/")
    assert response.status_code == 400
    assert "owner/name" in response.json()["detail"]


def test_it_needs_a_login():
    assert APIClient().get(URL).status_code == 401
