"""The client's GraphQL calls: review threads and resolving one.

Every document is checked against GitHub's GraphQL schema, and every request the client sends
to /graphql is checked again (document and variables) when the `api` fixture tears down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from graphql import GraphQLSchema, parse, validate

from reviews.github import graphql
from reviews.github.client import GitHubError
from reviews.github.resources import ReviewThread, ThreadComment
from tests.graphql_schema import RULES, assert_valid_graphql_request, document_errors
from tests.stubs import (
    resolved_json,
    thread_comment_json,
    thread_json,
    threads_json,
)

API = "https://api.github.test"
GRAPHQL = f"{API}/graphql"
TOKEN = "ghs_prismTestToken0123456789abcdefXYZ"
REPO = "octocat/Hello-World"
NUMBER = 1347
NOW = 1_700_000_000.0
THREAD_ID = "PRRT_kwDOFd42Pc4rQOUv"
MARKED = "Unchecked `None`.\n\n<!-- prism:finding:0123456789abcdef -->"

DOCUMENTS = {
    name: value
    for name, value in vars(graphql).items()
    if name.isupper()
    and isinstance(value, str)
    and value.lstrip().startswith(("query", "mutation"))
}


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        for call in mock.calls:
            assert_valid_graphql_request(call.request)


def sent(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


def thread_variables(cursor: str | None = None) -> dict[str, Any]:
    return {"owner": "octocat", "name": "Hello-World", "number": NUMBER, "cursor": cursor}


# The documents themselves


def test_the_documents_are_found_for_the_schema_check() -> None:
    assert {"REVIEW_THREADS", "RESOLVE_REVIEW_THREAD"} <= set(DOCUMENTS)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_each_document_is_valid_against_githubs_schema(
    graphql_schema: GraphQLSchema, name: str
) -> None:
    errors = validate(graphql_schema, parse(DOCUMENTS[name]), RULES)
    assert [e.message for e in errors] == []


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        (("isOutdated", "isOutdatedd"), "Cannot query field 'isOutdatedd'"),
        (("fullDatabaseId", "databaseId"), "databaseId is deprecated"),
        (("$number: Int!", "$number: String!"), "Variable '$number' of type 'String!'"),
        (("comments(first: 50)", "comments(first: 50, sort: NEWEST)"), "Unknown argument 'sort'"),
    ],
)
def test_the_schema_check_catches_a_broken_document(
    mistake: tuple[str, str], expected: str
) -> None:
    broken = graphql.REVIEW_THREADS.replace(*mistake)
    assert broken != graphql.REVIEW_THREADS
    assert any(expected in error for error in document_errors(broken))


def test_the_schema_check_catches_a_wrong_id_type_in_the_mutation() -> None:
    broken = graphql.RESOLVE_REVIEW_THREAD.replace("ID!", "String!")
    assert document_errors(broken) == [
        "Variable '$threadId' of type 'String!' used in position expecting type 'ID!'."
    ]


# Reading the threads


def test_review_threads_posts_the_query_with_its_variables(api, client) -> None:
    api.post(GRAPHQL, json=threads_json())
    assert client.review_threads(REPO, NUMBER) == []
    [call] = api.calls
    assert call.request.url == GRAPHQL
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.request.headers["User-Agent"].startswith("Prism-Review-Bot")
    assert call.request.req_kwargs["timeout"] == (5.0, 20.0)
    assert sent(call) == {"query": graphql.REVIEW_THREADS, "variables": thread_variables()}


def test_review_threads_follow_the_end_cursor_across_pages(api, client) -> None:
    api.post(GRAPHQL, json=threads_json(thread_json("PRRT_1"), next_cursor="Y3Vyc29yOjE="))
    api.post(GRAPHQL, json=threads_json(thread_json("PRRT_2"), next_cursor="Y3Vyc29yOjI="))
    api.post(GRAPHQL, json=threads_json(thread_json("PRRT_3")))

    threads = client.review_threads(REPO, NUMBER)

    assert [t.id for t in threads] == ["PRRT_1", "PRRT_2", "PRRT_3"]
    assert [sent(call)["variables"] for call in api.calls] == [
        thread_variables(None),
        thread_variables("Y3Vyc29yOjE="),
        thread_variables("Y3Vyc29yOjI="),
    ]


def test_threads_are_parsed_into_typed_results(api, client) -> None:
    api.post(
        GRAPHQL,
        json=threads_json(
            thread_json(
                THREAD_ID,
                thread_comment_json("prism-review", MARKED, 2_500_000_000, typename="Bot"),
                thread_comment_json("hubot", "Fixed, thanks!", 2_500_000_001),
                outdated=True,
                path="src/app.py",
                line=None,
            ),
            thread_json("PRRT_2", thread_comment_json(None, "gone"), resolved=True, line=3),
        ),
    )

    assert client.review_threads(REPO, NUMBER) == [
        ReviewThread(
            id=THREAD_ID,
            is_resolved=False,
            is_outdated=True,
            path="src/app.py",
            line=None,
            comments=(
                # A bot's login is spelt as REST spells it, so it compares with GET /user's.
                ThreadComment(author="prism-review[bot]", body=MARKED, database_id=2_500_000_000),
                ThreadComment(author="hubot", body="Fixed, thanks!", database_id=2_500_000_001),
            ),
        ),
        ReviewThread(
            id="PRRT_2",
            is_resolved=True,
            is_outdated=False,
            path="src/app.py",
            line=3,
            comments=(ThreadComment(author="", body="gone", database_id=1_000_001),),
        ),
    ]


def test_a_thread_with_comments_left_unfetched_says_so(api, client) -> None:
    comments = [thread_comment_json("octocat", MARKED, n) for n in range(1, 51)]
    api.post(GRAPHQL, json=threads_json(thread_json(THREAD_ID, *comments, more_comments=True)))
    [thread] = client.review_threads(REPO, NUMBER)
    assert len(thread.comments) == 50
    assert thread.more_comments


def test_a_null_database_id_and_null_nodes_are_tolerated(api, client) -> None:
    comment = {**thread_comment_json("octocat", "hi"), "fullDatabaseId": None}
    body = threads_json(thread_json(THREAD_ID, comment))
    body["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"].append(None)
    api.post(GRAPHQL, json=body)
    [thread] = client.review_threads(REPO, NUMBER)
    assert thread.comments[0].database_id is None


def test_github_enterprise_serves_graphql_beside_api_v3(api, make_client) -> None:
    api.post("https://ghe.test/api/graphql", json=threads_json())
    make_client("https://ghe.test/api/v3/").review_threads(REPO, NUMBER)
    assert api.calls[0].request.url == "https://ghe.test/api/graphql"


@pytest.mark.parametrize(
    ("base_url", "endpoint"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://api.github.com/", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3", "https://ghe.example.com/api/graphql"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"),
    ],
)
def test_the_graphql_endpoint_is_derived_from_the_rest_base(base_url: str, endpoint: str) -> None:
    assert graphql.endpoint(base_url) == endpoint


@pytest.mark.parametrize("repo", ["octocat", "octocat/", "../x", "a/b/c", "own er/name"])
def test_a_bad_repo_is_refused_before_sending(api, client, repo: str) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        client.review_threads(repo, NUMBER)


def test_a_pull_number_must_be_a_positive_integer(api, client) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        client.review_threads(REPO, 0)


# Resolving a thread


def test_resolve_review_thread_posts_the_mutation(api, client) -> None:
    api.post(GRAPHQL, json=resolved_json(THREAD_ID))
    assert client.resolve_review_thread(THREAD_ID) is None
    [call] = api.calls
    assert sent(call) == {
        "query": graphql.RESOLVE_REVIEW_THREAD,
        "variables": {"threadId": THREAD_ID},
    }


def test_an_empty_thread_id_is_refused_before_sending(api, client) -> None:
    with pytest.raises(ValueError, match="node ID"):
        client.resolve_review_thread("")


# Failures: GraphQL reports them in a 200; the transport's retries and waits still apply

NOT_FOUND = {
    "data": {"repository": None},
    "errors": [
        {
            "type": "NOT_FOUND",
            "path": ["repository"],
            "locations": [{"line": 3, "column": 3}],
            "message": "Could not resolve to a Repository with the name 'octocat/Hello-World'.",
        }
    ],
}
FORBIDDEN = {
    "data": {"resolveReviewThread": None},
    "errors": [
        {
            "type": "FORBIDDEN",
            "path": ["resolveReviewThread"],
            "locations": [{"line": 3, "column": 3}],
            "message": "Resource not accessible by integration",
        }
    ],
}


def rate_limited(kind: str) -> dict[str, Any]:
    message = "API rate limit already exceeded for installation ID 123456."
    return {"errors": [{"type": kind, "code": "graphql_rate_limit", "message": message}]}


def test_errors_in_a_200_are_a_permanent_github_error(api, client, sleeps) -> None:
    api.post(GRAPHQL, json=NOT_FOUND)
    with pytest.raises(GitHubError) as caught:
        client.review_threads(REPO, NUMBER)
    assert caught.value.permanent
    assert "PullRequestReviewThreads" in str(caught.value)
    assert "[NOT_FOUND] repository Could not resolve to a Repository" in str(caught.value)
    assert len(api.calls) == 1 and sleeps == []


def test_a_refused_mutation_is_a_permanent_github_error(api, client) -> None:
    api.post(GRAPHQL, json=FORBIDDEN)
    with pytest.raises(GitHubError, match="Resource not accessible by integration") as caught:
        client.resolve_review_thread(THREAD_ID)
    assert caught.value.permanent


def test_a_missing_pull_request_is_permanent(api, client) -> None:
    api.post(GRAPHQL, json={"data": {"repository": {"pullRequest": None}}})
    with pytest.raises(GitHubError, match="no such pull request") as caught:
        client.review_threads(REPO, NUMBER)
    assert caught.value.permanent


@pytest.mark.parametrize(
    "body", [{"data": None}, {}, {"data": {"repository": {"pullRequest": {"reviewThreads": 3}}}}]
)
def test_an_answer_in_an_unexpected_shape_is_a_transient_error(api, client, body) -> None:
    api.post(GRAPHQL, json=body)
    with pytest.raises(GitHubError) as caught:
        client.review_threads(REPO, NUMBER)
    assert not caught.value.permanent


def test_a_502_then_success_is_retried(api, client, sleeps) -> None:
    api.post(GRAPHQL, status=502, json={"message": "Server Error"})
    api.post(GRAPHQL, json=threads_json(thread_json(THREAD_ID)))
    assert [t.id for t in client.review_threads(REPO, NUMBER)] == [THREAD_ID]
    assert len(api.calls) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5
    assert sent(api.calls[0]) == sent(api.calls[1])


def test_a_persistent_502_fails_transiently(api, client, sleeps) -> None:
    for _ in range(4):
        api.post(GRAPHQL, status=502, json={"message": "Server Error"})
    with pytest.raises(GitHubError) as caught:
        client.resolve_review_thread(THREAD_ID)
    assert not caught.value.permanent and caught.value.status == 502
    assert len(sleeps) == 3


@pytest.mark.parametrize("kind", ["RATE_LIMITED", "RATE_LIMIT"])
def test_a_rate_limit_in_a_200_resetting_soon_is_waited_out(api, client, sleeps, kind) -> None:
    # x-ratelimit-remaining need not read 0 on a GraphQL rate limit.
    headers = {"x-ratelimit-remaining": "12", "x-ratelimit-reset": str(int(NOW) + 5)}
    api.post(GRAPHQL, json=rate_limited(kind), headers=headers)
    api.post(GRAPHQL, json=resolved_json(THREAD_ID))
    client.resolve_review_thread(THREAD_ID)
    assert sleeps == [5.0]


def test_a_long_rate_limit_in_a_200_is_left_to_the_task(api, client, sleeps) -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 1800)}
    api.post(GRAPHQL, json=rate_limited("RATE_LIMITED"), headers=headers)
    with pytest.raises(GitHubError, match="rate limit already exceeded") as caught:
        client.review_threads(REPO, NUMBER)
    assert not caught.value.permanent
    assert caught.value.retry_after == 1800.0
    assert sleeps == []


def test_a_rate_limit_in_a_200_without_headers_waits_a_minute_via_the_task(
    api, client, sleeps
) -> None:
    api.post(GRAPHQL, json=rate_limited("RATE_LIMITED"))
    with pytest.raises(GitHubError) as caught:
        client.review_threads(REPO, NUMBER)
    assert not caught.value.permanent and caught.value.retry_after == 60.0


def test_a_secondary_rate_limit_403_with_retry_after_is_waited_out(api, client, sleeps) -> None:
    secondary = {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
        "you try again.",
        "documentation_url": "https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api",
    }
    api.post(GRAPHQL, status=403, json=secondary, headers={"retry-after": "3"})
    api.post(GRAPHQL, json=threads_json())
    assert client.review_threads(REPO, NUMBER) == []
    assert sleeps == [3.0]


def test_bad_credentials_are_permanent_and_never_show_the_token(api, client) -> None:
    api.post(GRAPHQL, status=401, json={"message": "Bad credentials"})
    with pytest.raises(GitHubError, match="401: Bad credentials") as caught:
        client.review_threads(REPO, NUMBER)
    assert caught.value.permanent
    assert TOKEN not in str(caught.value)


def test_a_connection_error_is_retried(api, client, sleeps) -> None:
    api.post(GRAPHQL, body=requests.ConnectionError("reset by peer"))
    api.post(GRAPHQL, json=resolved_json(THREAD_ID))
    client.resolve_review_thread(THREAD_ID)
    assert len(sleeps) == 1
