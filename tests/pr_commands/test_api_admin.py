"""Commands in the API (`GET /api/commands/`, in the OpenAPI schema) and in the admin."""

import pytest
from django.core.cache import cache

from reviews.models import Command
from tests.api.test_api import client_with_token

pytestmark = pytest.mark.django_db

LIST = "/api/commands/"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(django_user_model):
    return client_with_token(django_user_model.objects.create_user("reader", password="pw-1"))


@pytest.fixture
def commands(record_command):
    review = record_command("@prism review", login="alice")
    Command.objects.filter(id=review.id).update(status="done", outcome="Queued a review.")
    refused = record_command("@prism review", login="mallory", association="NONE")
    Command.objects.filter(id=refused.id).update(status="refused", outcome="Not allowed.")
    other = record_command("@prism pause", login="octo", number=8)
    return review, refused, other


def test_it_needs_authentication(client, commands):
    assert client.get(LIST).status_code == 401


def test_it_lists_commands_newest_first_with_who_what_and_outcome(api, commands):
    review, refused, other = commands

    response = api.get(LIST)

    assert response.status_code == 200
    data = response.json()
    assert [row["id"] for row in data["results"]] == [other.id, refused.id, review.id]
    row = data["results"][-1]
    assert row["author"] == "alice" and row["author_association"] == "COLLABORATOR"
    assert (row["verb"], row["status"], row["outcome"]) == ("review", "done", "Queued a review.")
    assert (row["repo_full_name"], row["pr_number"]) == ("octo/widgets", 7)
    assert row["source"] == "issue_comment" and row["comment_id"] == review.comment_id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=refused", ["mallory"]),
        ("verb=pause", ["octo"]),
        ("pr_number=8", ["octo"]),
        ("author=alice", ["alice"]),
        ("repo=octo/widgets&verb=review", ["mallory", "alice"]),
        ("repo=someone/else", []),
    ],
)
def test_it_filters(api, commands, query, expected):
    rows = api.get(f"{LIST}?{query}").json()["results"]

    assert [row["author"] for row in rows] == expected


@pytest.mark.parametrize(
    ("param", "value"),
    [("status", "nope"), ("verb", "destroy"), ("pr_number", "x"), ("created_after", "soon")],
)
def test_bad_values_get_a_400_naming_the_parameter(api, param, value):
    response = api.get(f"{LIST}?{param}={value}")

    assert response.status_code == 400
    assert param in response.json()


def test_one_command_and_read_only(api, commands):
    review = commands[0]

    assert api.get(f"{LIST}{review.id}/").json()["verb"] == "review"
    assert api.post(LIST, {}).status_code == 405
    assert api.delete(f"{LIST}{review.id}/").status_code == 405


def test_the_schema_documents_the_filters(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    parameters = {p["name"] for p in schema["paths"]["/api/commands/"]["get"]["parameters"]}
    assert {"repo", "pr_number", "verb", "status", "author", "limit", "offset"} <= parameters


def test_the_admin_lists_commands_read_only_with_filters(staff_client, commands):
    review = commands[0]

    page = staff_client.get("/admin/reviews/command/?status__exact=refused")

    assert page.status_code == 200
    html = page.content.decode()
    assert "mallory" in html and "alice" not in html
    detail = staff_client.get(f"/admin/reviews/command/{review.id}/change/")
    assert detail.status_code == 200 and "Queued a review." in detail.content.decode()
    assert staff_client.get("/admin/reviews/command/add/").status_code == 403


def test_the_admin_escapes_what_a_comment_wrote(staff_client, record_command):
    command = record_command('@prism ask <script>alert("x")</script>')

    html = staff_client.get(f"/admin/reviews/command/{command.id}/change/").content.decode()

    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;" in html


def test_the_admin_shows_paused_pull_requests(staff_client):
    from reviews.commands import services

    services.pull_request_pause(repo="octo/widgets", number=7, login="octo")

    html = staff_client.get("/admin/reviews/pullrequeststate/?paused__exact=1").content.decode()

    assert "octo/widgets" in html
