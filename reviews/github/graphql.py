"""GitHub's GraphQL API: the documents Prism sends and how it reads the answers. Pure.

The client posts them through its REST transport, so the token, retries and rate-limit waits
are the same. Every document here is validated against GitHub's published schema by
tests/github/test_graphql.py (tests/fixtures/github/graphql/).
"""

from __future__ import annotations

import re
from typing import Any

from reviews.github.errors import GitHubError
from reviews.github.resources import ReviewThread, ThreadComment

# "first and last must be within 1-100"; 100 threads x 50 comments stays far under the
# 500,000 nodes a call may ask for:
# https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api#node-limit
THREADS_PER_PAGE = 100
COMMENTS_PER_THREAD = 50

# https://docs.github.com/graphql/reference/objects#pullrequestreviewthread
# `__typename` tells a Bot from a User: GraphQL gives a bot's login without REST's "[bot]"
# (https://github.com/fullsend-ai/fullsend/issues/6205), and a user may own the same name.
REVIEW_THREADS = """
query PullRequestReviewThreads($owner: String!, $name: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $cursor) {
        nodes {
          id
          isResolved
          isOutdated
          path
          line
          comments(first: 50) {
            nodes { author { __typename login } body fullDatabaseId }
            pageInfo { hasNextPage }
          }
        }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
"""

# https://docs.github.com/graphql/reference/mutations#resolvereviewthread
RESOLVE_REVIEW_THREAD = """
mutation ResolveReviewThread($threadId: ID!) {
  resolveReviewThread(input: {threadId: $threadId}) { thread { id isResolved } }
}
"""

# GitHub answers its GraphQL primary rate limit with a 200 whose `errors` say so; the type
# has been spelt both ways, and x-ratelimit-remaining need not read 0:
# https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api#exceeding-the-rate-limit
# https://github.com/yanyongyu/githubkit/issues/271
RATE_LIMIT_TYPES = frozenset({"RATE_LIMITED", "RATE_LIMIT"})
MAX_ERROR_TEXT = 500

_OPERATION = re.compile(r"\b(?:query|mutation)\s+(\w+)")


# The first word of a document, past comments: its operation type.
_OPERATION_TYPE = re.compile(r"\s*(?:#[^\n]*\n\s*)*(\w+)")


def is_mutation(document: str) -> bool:
    """A mutation creates content, and is paced like a REST write (docs/github-facts.md L3)."""
    match = _OPERATION_TYPE.match(document)
    return match is not None and match.group(1) == "mutation"


def endpoint(base_url: str) -> str:
    """https://docs.github.com/graphql/guides/forming-calls-with-graphql#the-graphql-endpoint

    api.github.com serves REST at / and GraphQL at /graphql; GitHub Enterprise Server serves
    REST at https://HOST/api/v3 and GraphQL at https://HOST/api/graphql.
    """
    base = base_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base.removesuffix("/v3") + "/graphql"
    return base + "/graphql"


def rate_limited(payload: dict[str, Any]) -> bool:
    return any(
        error.get("type") in RATE_LIMIT_TYPES or error.get("code") == "graphql_rate_limit"
        for error in _error_list(payload)
    )


def data(payload: dict[str, Any], document: str) -> dict[str, Any]:
    """The `data` of an answer. GraphQL reports failures inside a 200, in `errors`.

    https://docs.github.com/graphql/guides/forming-calls-with-graphql#communicating-with-graphql
    A query or mutation GitHub refused stays refused (permanent), unless it was rate limited.
    """
    match = _OPERATION.search(document)
    operation = match.group(1) if match else "operation"
    if payload.get("errors"):
        text = "; ".join(_describe(error) for error in _error_list(payload))
        text = text or str(payload["errors"])
        raise GitHubError(
            f"GitHub GraphQL {operation} failed: {text}"[:MAX_ERROR_TEXT],
            status=200,
            permanent=not rate_limited(payload),
        )
    result = payload.get("data")
    if not isinstance(result, dict):
        raise GitHubError(f"GitHub GraphQL {operation} answered without data", permanent=False)
    return result


def review_threads_page(result: dict[str, Any]) -> tuple[list[ReviewThread], str | None]:
    """One page of threads and the cursor of the next page (None on the last one)."""
    try:
        pull = (result.get("repository") or {}).get("pullRequest")
        if pull is None:
            raise GitHubError("GitHub GraphQL found no such pull request", permanent=True)
        connection = pull["reviewThreads"]
        threads = [review_thread(node) for node in connection.get("nodes") or [] if node]
        page = connection.get("pageInfo") or {}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise GitHubError(
            f"GitHub GraphQL answered review threads in an unexpected shape: {exc!r}",
            permanent=False,
        ) from exc
    cursor = page.get("endCursor") if page.get("hasNextPage") else None
    return threads, cursor if isinstance(cursor, str) and cursor else None


def review_thread(node: dict[str, Any]) -> ReviewThread:
    connection = node.get("comments") or {}
    return ReviewThread(
        id=node["id"],
        is_resolved=bool(node["isResolved"]),
        is_outdated=bool(node["isOutdated"]),
        path=node.get("path") or "",
        line=node.get("line"),
        comments=tuple(_comment(item) for item in connection.get("nodes") or [] if item),
        more_comments=bool((connection.get("pageInfo") or {}).get("hasNextPage")),
    )


def _comment(node: dict[str, Any]) -> ThreadComment:
    # BigInt "may exceed the size of a 32-bit integer, it's encoded as a string".
    database_id = node.get("fullDatabaseId")
    return ThreadComment(
        author=_login(node.get("author")),
        body=node.get("body") or "",
        database_id=int(database_id) if database_id is not None else None,
    )


def _login(author: dict[str, Any] | None) -> str:
    """The login as REST and webhooks spell it: an app's bot is "name[bot]" there."""
    if not author:  # a deleted account
        return ""
    login = str(author.get("login") or "")
    if login and author.get("__typename") == "Bot" and not login.endswith("[bot]"):
        return f"{login}[bot]"
    return login


def _error_list(payload: dict[str, Any]) -> list[dict[str, Any]]:
    errors = payload.get("errors")
    if not isinstance(errors, list):
        return []
    return [error if isinstance(error, dict) else {"message": str(error)} for error in errors]


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type") or error.get("code") or ""
    where = ".".join(str(part) for part in error.get("path") or [])
    message = str(error.get("message") or "")
    return " ".join(part for part in (f"[{kind}]" if kind else "", where, message) if part)
