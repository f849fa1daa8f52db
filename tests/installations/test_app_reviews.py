"""A review in GitHub App mode acts with its installation's token, end to end through the
task, the pipeline and publishing; the App's bot is who Prism is."""

from io import StringIO

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from reviews.models import Analysis, Installation, Repository
from reviews.tasks import review_pull_request
from tests import stubs
from tests.factories import answer_finding
from tests.fixtures import github_response
from tests.openapi import assert_valid_request

pytestmark = pytest.mark.django_db

TOKEN = "ghs_" + "i" * 120  # an installation token, longer than today's 40 characters
CHAT = f"{stubs.LLM}/chat/completions"


@pytest.fixture
def installed(app_mode):
    installation = Installation.objects.create(id=11, account_login="octo")
    Repository.objects.create(installation=installation, full_name=stubs.REPO)


def serve_app(http: responses.RequestsMock) -> None:
    token = github_response("apps.create-installation-access-token.201.default.json")
    token.update(token=TOKEN, expires_at="2099-01-01T00:00:00Z")
    http.post(f"{stubs.API}/app/installations/11/access_tokens", json=token, status=201)
    app = github_response("apps.get-authenticated.200.default.json")
    http.get(f"{stubs.API}/app", json={**app, "slug": "prism-review"})


def repository_calls(http: responses.RequestsMock) -> list[responses.Call]:
    return [
        c
        for c in http.calls
        if "/repos/" in (c.request.url or "") or "graphql" in (c.request.url or "")
    ]


def test_a_queued_review_reads_and_posts_with_its_installation_token(installed, make_analysis):
    analysis = make_analysis(installation_id=11, head_sha=stubs.HEAD, status="queued")
    with responses.RequestsMock() as http:
        serve_app(http)
        stubs.serve_pull_request(http)
        http.post(CHAT, json=stubs.chat_completion([answer_finding("src/flask/helpers.py", 550)]))
        http.post(stubs.status_api(), status=201, json={})
        http.get(stubs.COMMENTS_API, json=[])
        http.post(stubs.COMMENTS_API, status=201, json=stubs.comment_json(901, "x"))
        http.get(stubs.REVIEW_COMMENTS_API, json=[])
        http.post(stubs.REVIEWS_API, json={"id": 55})
        http.post(stubs.GRAPHQL_API, json=stubs.threads_json())

        review_pull_request.run(analysis.id)

        calls = repository_calls(http)
        assert {c.request.headers["Authorization"] for c in calls} == {f"Bearer {TOKEN}"}
        assert not [c for c in http.calls if (c.request.url or "").endswith("/user")]
        for call in http.calls:
            if "graphql" not in (call.request.url or "") and "chat" not in (call.request.url or ""):
                assert_valid_request(call.request)
    analysis.refresh_from_db()
    assert analysis.status == "completed", analysis.error
    assert analysis.comment_posted_at is not None


def test_review_pr_in_app_mode_uses_the_repositorys_installation(installed):
    with responses.RequestsMock() as http:
        serve_app(http)
        stubs.serve_pull_request(http)
        http.post(CHAT, json=stubs.chat_completion([]))
        call_command(
            "review_pr",
            f"{stubs.REPO}#{stubs.NUMBER}",
            "--no-post",
            stdout=StringIO(),
            stderr=StringIO(),
        )
        assert {c.request.headers["Authorization"] for c in repository_calls(http)} == {
            f"Bearer {TOKEN}"
        }
    assert Analysis.objects.get().installation_id == 11


def test_review_pr_refuses_a_repository_the_app_is_not_installed_on(app_mode):
    with pytest.raises(CommandError, match="has no installation"):
        call_command("review_pr", "octo/elsewhere#1", stdout=StringIO(), stderr=StringIO())
    assert not Analysis.objects.exists()
