"""Reading the reactions on an inline comment: GitHub's example answer, every page, and each
request checked against GitHub's REST description (the failure modes are in test_client.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from reviews.github.client import GitHubClient, GitHubError
from reviews.github.resources import Reaction
from tests.fixtures import github_response
from tests.github.conftest import API
from tests.openapi import assert_valid_request

REPO = "octocat/Hello-World"
URL = f"{API}/repos/{REPO}/pulls/comments/42/reactions"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        for call in mock.calls:
            assert_valid_request(call.request, base_url=API)


def reaction(content: str, login: str, kind: str = "User") -> dict:
    [example] = github_response("reactions.list-for-pull-request-review-comment.200.default.json")
    user = {**example["user"], "login": login, "type": kind}
    return {**example, "content": content, "user": user}


def test_githubs_example_answer_is_read_as_a_reaction(api, client: GitHubClient) -> None:
    api.add(
        "GET",
        f"{URL}?per_page=100",
        json=github_response("reactions.list-for-pull-request-review-comment.200.default.json"),
    )

    assert list(client.list_review_comment_reactions(REPO, 42)) == [
        Reaction(content="heart", user="octocat", user_type="User")
    ]


def test_every_page_is_read_by_following_the_link_header(api, client: GitHubClient) -> None:
    second = f"{URL}?per_page=100&page=2"
    api.add(
        "GET",
        f"{URL}?per_page=100",
        json=[reaction("+1", f"user{n}") for n in range(100)],
        headers={"Link": f'<{second}>; rel="next", <{second}>; rel="last"'},
    )
    api.add("GET", second, json=[reaction("-1", "alice"), reaction("+1", "ci", "Bot")])

    read = list(client.list_review_comment_reactions(REPO, 42))

    assert len(read) == 102
    assert read[-2:] == [
        Reaction(content="-1", user="alice", user_type="User"),
        Reaction(content="+1", user="ci", user_type="Bot"),
    ]
    assert [call.request.url for call in api.calls] == [f"{URL}?per_page=100", second]


def test_a_deleted_account_is_a_reaction_without_a_user(api, client: GitHubClient) -> None:
    api.add("GET", f"{URL}?per_page=100", json=[{"id": 1, "content": "-1", "user": None}])

    assert list(client.list_review_comment_reactions(REPO, 42)) == [
        Reaction(content="-1", user="", user_type="")
    ]


def test_a_deleted_comment_is_a_permanent_404(api, client: GitHubClient) -> None:
    api.add("GET", f"{URL}?per_page=100", json={"message": "Not Found"}, status=404)

    with pytest.raises(GitHubError) as raised:
        list(client.list_review_comment_reactions(REPO, 42))

    assert (raised.value.status, raised.value.permanent) == (404, True)


@pytest.mark.parametrize("comment_id", [0, -1, True])
def test_a_comment_id_must_be_a_positive_integer(client: GitHubClient, comment_id: int) -> None:
    with pytest.raises(ValueError, match="positive integer id"):
        client.list_review_comment_reactions(REPO, comment_id)
