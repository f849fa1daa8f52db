"""Check runs (reviews/github/client.py): create and update, every body valid for GitHub's REST
description, with GitHub's own example answers; the failures each call meets."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import responses

from reviews.github.client import GitHubClient, GitHubError
from tests.fixtures import openapi_example
from tests.github.conftest import API
from tests.openapi import assert_valid_request

REPO = "octocat/Hello-World"
SHA = "ce587453ced02b1526dfb4cb910479d431683101"
CHECK_RUNS = f"{API}/repos/{REPO}/check-runs"
CHECK_RUN = f"{CHECK_RUNS}/4"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        for call in mock.calls:
            assert_valid_request(call.request)


def _sent(api: responses.RequestsMock, index: int = 0) -> dict:
    body = api.calls[index].request.body
    assert body is not None
    return json.loads(body)


def test_a_check_run_is_created_in_progress(api, client: GitHubClient) -> None:
    api.post(
        CHECK_RUNS, status=201, json=openapi_example("check-run-example-of-in-progress-conclusion")
    )

    check_run_id = client.create_check_run(
        REPO,
        name="Prism review",
        head_sha=SHA,
        external_id="42",
        details_url="https://prism.example.com/admin/reviews/analysis/42/change/",
    )

    assert check_run_id == 4
    assert _sent(api) == {
        "name": "Prism review",
        "head_sha": SHA,
        "external_id": "42",
        "status": "in_progress",
        "details_url": "https://prism.example.com/admin/reviews/analysis/42/change/",
    }


def test_a_check_run_can_be_created_completed(api, client: GitHubClient) -> None:
    api.post(
        CHECK_RUNS, status=201, json=openapi_example("check-run-example-of-completed-conclusion")
    )

    client.create_check_run(
        REPO,
        name="Prism review",
        head_sha=SHA,
        external_id="42",
        conclusion="neutral",
        output={"title": "Not reviewed: skipped by policy", "summary": "why"},
    )

    body = _sent(api)
    assert (body["status"], body["conclusion"]) == ("completed", "neutral")
    assert body["output"] == {"title": "Not reviewed: skipped by policy", "summary": "why"}
    assert "details_url" not in body


def test_an_update_completes_the_run_with_annotations_and_an_action(
    api, client: GitHubClient
) -> None:
    api.patch(CHECK_RUN, json=openapi_example("check-run"))
    annotation = {
        "path": "src/app.py",
        "start_line": 10,
        "end_line": 12,
        "annotation_level": "failure",
        "message": "The loop skips the last element.",
        "title": "Off-by-one",
    }
    action = {
        "label": "Re-run review",
        "description": "Review this commit again",
        "identifier": "rerun",
    }

    client.update_check_run(
        REPO,
        4,
        conclusion="failure",
        output={"title": "1 finding (1 high)", "summary": "s", "annotations": [annotation]},
        actions=[action],
    )

    assert _sent(api) == {
        "status": "completed",
        "conclusion": "failure",
        "output": {"title": "1 finding (1 high)", "summary": "s", "annotations": [annotation]},
        "actions": [action],
    }


def test_an_update_with_only_annotations_leaves_the_conclusion_alone(
    api, client: GitHubClient
) -> None:
    api.patch(CHECK_RUN, json=openapi_example("check-run"))

    client.update_check_run(REPO, 4, output={"title": "t", "summary": "s", "annotations": []})

    assert _sent(api) == {"output": {"title": "t", "summary": "s"}}


def test_more_than_fifty_annotations_are_refused_before_sending(client: GitHubClient) -> None:
    note = {"path": "a.py", "start_line": 1, "end_line": 1, "annotation_level": "notice",
            "message": "m"}  # fmt: skip
    with pytest.raises(ValueError, match="51 annotations"):
        client.update_check_run(REPO, 4, output={"title": "t", "annotations": [note] * 51})


def test_an_unknown_conclusion_is_refused_before_sending(client: GitHubClient) -> None:
    with pytest.raises(ValueError, match="conclusion"):
        client.update_check_run(REPO, 4, conclusion="passed")


def test_long_texts_are_shortened_to_githubs_limits(api, client: GitHubClient) -> None:
    api.patch(CHECK_RUN, json=openapi_example("check-run"))

    client.update_check_run(
        REPO, 4, conclusion="success", output={"title": "t" * 300, "summary": "s" * 70_000}
    )

    output = _sent(api)["output"]
    assert (len(output["title"]), len(output["summary"])) == (255, 65_535)
    assert output["summary"].endswith("…")


def test_a_personal_token_is_refused_creating_a_check_run(api, client: GitHubClient) -> None:
    # GitHub: only GitHub Apps create check runs (docs/github-facts.md C6).
    api.post(
        CHECK_RUNS,
        status=403,
        json={"message": "You must authenticate via a GitHub App.", "documentation_url": "x"},
    )

    with pytest.raises(GitHubError) as raised:
        client.create_check_run(REPO, name="Prism review", head_sha=SHA, external_id="1")

    assert raised.value.permanent is True
    assert "GitHub App" in str(raised.value)


def test_a_missing_check_run_is_a_permanent_404(api, client: GitHubClient) -> None:
    api.patch(CHECK_RUN, status=404, json={"message": "Not Found", "documentation_url": "x"})

    with pytest.raises(GitHubError) as raised:
        client.update_check_run(REPO, 4, conclusion="neutral")

    assert (raised.value.status, raised.value.permanent) == (404, True)


def test_a_422_on_an_update_is_permanent(api, client: GitHubClient) -> None:
    api.patch(CHECK_RUN, status=422, json={"message": "Invalid request.", "documentation_url": "x"})

    with pytest.raises(GitHubError) as raised:
        client.update_check_run(REPO, 4, conclusion="success")

    assert (raised.value.status, raised.value.permanent) == (422, True)


def test_a_rate_limited_create_asks_for_a_retry_later(api, client: GitHubClient, sleeps) -> None:
    api.post(
        CHECK_RUNS,
        status=429,
        json={"message": "secondary rate limit", "documentation_url": "x"},
        headers={"Retry-After": "120"},
    )

    with pytest.raises(GitHubError) as raised:
        client.create_check_run(REPO, name="Prism review", head_sha=SHA, external_id="1")

    assert (raised.value.permanent, raised.value.retry_after) == (False, 120.0)
    assert sleeps == []


def test_a_5xx_is_retried_then_transient(api, client: GitHubClient, sleeps) -> None:
    for _ in range(4):
        api.patch(CHECK_RUN, status=502, body="bad gateway")

    with pytest.raises(GitHubError) as raised:
        client.update_check_run(REPO, 4, conclusion="success")

    assert raised.value.permanent is False
    assert len(api.calls) == 4 and len(sleeps) == 3
