"""Stand-ins for GitHub and the LLM at the HTTP level, built from GitHub's own examples."""

import copy
import json
from typing import Any

import responses

from reviews.comments.render import MARKER
from tests.fixtures import diff_text, github_response, openapi_example

API = "https://api.github.test"
GRAPHQL_API = f"{API}/graphql"
LLM = "https://llm.test/api/v1"
CHAT = f"{LLM}/chat/completions"

# The pull request most tests review, and where GitHub serves it.
REPO, NUMBER, HEAD = "octo/widgets", 7, "a" * 40
PR_API = f"{API}/repos/{REPO}/pulls/{NUMBER}"
COMMENTS_API = f"{API}/repos/{REPO}/issues/{NUMBER}/comments"
REVIEWS_API = f"{PR_API}/reviews"
REVIEW_COMMENTS_API = f"{PR_API}/comments"
JSON_ACCEPT = {"Accept": "application/vnd.github+json"}
DIFF_ACCEPT = {"Accept": "application/vnd.github.diff"}


def pull_request_json(
    *, repo: str, number: int, head_sha: str, state: str = "open", merged: bool = False, **extra
) -> dict[str, Any]:
    data = copy.deepcopy(github_response("pulls.get.200.default.json"))
    owner = repo.split("/")[0]
    data.update(
        number=number,
        state=state,
        merged=merged,
        draft=False,
        title=extra.get("title", "Add widgets"),
        body=extra.get("body", "Adds the widget registry."),
        html_url=f"https://github.com/{repo}/pull/{number}",
    )
    data["head"]["sha"] = head_sha
    data["base"]["sha"] = "b" * 40
    data["user"]["login"] = owner
    return data


# The login the example responses' comments were written by: Prism's identity in the tests.
PRISM_LOGIN = "octocat"


def serve_identity(http: responses.RequestsMock, login: str = PRISM_LOGIN) -> None:
    """GET /user: who the token acts as (asked once per token and process)."""
    http.get(f"{API}/user", json={"login": login, "id": 1, "type": "User"})


def comment_json(comment_id: int, body: str, repo: str = "octo/widgets") -> dict[str, Any]:
    data = copy.deepcopy(github_response("issues.create-comment.201.default.json"))
    data.update(
        id=comment_id,
        body=body,
        html_url=f"https://github.com/{repo}/pull/7#issuecomment-{comment_id}",
    )
    return data


def chat_completion(
    findings: list[dict[str, Any]], summary: str = "Looks mostly fine.", **usage
) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "model": "openai/gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": json.dumps({"summary": summary, "findings": findings}),
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 80, **usage},
    }


def serve_pull_request(
    http: responses.RequestsMock,
    head_sha: str = HEAD,
    diff: str = "01-plain-modification",
    **pr: Any,
) -> None:
    """GitHub answers for the pull request REPO#NUMBER: its JSON, and its diff."""
    body = pull_request_json(repo=REPO, number=NUMBER, head_sha=head_sha, **pr)
    http.get(PR_API, json=body, match=[responses.matchers.header_matcher(JSON_ACCEPT)])
    http.get(PR_API, body=diff_text(diff), match=[responses.matchers.header_matcher(DIFF_ACCEPT)])


def serve_publishing(
    http: responses.RequestsMock, *, head_sha: str = HEAD, comments=(), review_comments=()
) -> None:
    """GitHub accepting everything a review posts: statuses, the comment, inline comments."""
    serve_identity(http)
    http.post(status_api(head_sha), status=201, json={})
    http.get(COMMENTS_API, json=list(comments))
    http.post(COMMENTS_API, status=201, json=comment_json(901, MARKER))
    http.get(REVIEW_COMMENTS_API, json=list(review_comments))
    http.post(REVIEWS_API, json={"id": 55})
    # Prism's own review threads, read after the inline comments (none to resolve here).
    http.post(GRAPHQL_API, json=threads_json())


def status_api(head_sha: str = HEAD) -> str:
    return f"{API}/repos/{REPO}/statuses/{head_sha}"


def calls_to(http: responses.RequestsMock, method: str, url: str) -> list[responses.Call]:
    return [
        c
        for c in http.calls
        if c.request.method == method and (c.request.url or "").split("?")[0] == url
    ]


def statuses_sent(http: responses.RequestsMock) -> list[str]:
    """The commit statuses posted, in order: "pending", then "success", "failure" or "error"."""
    return [sent_json(c)["state"] for c in http.calls if "/statuses/" in (c.request.url or "")]


def sent_json(call: responses.Call) -> Any:
    body = call.request.body
    assert body is not None, f"{call.request.method} {call.request.url} sent no body"
    return json.loads(body)


def comment_number(analysis: Any) -> int | None:
    """The id of the comment an analysis was posted as, read back from its URL."""
    _, _, number = analysis.comment_url.rpartition("#issuecomment-")
    return int(number) if number.isdigit() else None


# GitHub's GraphQL answers (reviews/github/graphql.py), shaped as api.github.com returns them.


def thread_comment_json(
    login: str | None, body: str, database_id: int = 1_000_001, *, typename: str = "User"
) -> dict[str, Any]:
    """A review comment in a thread; `login=None` is a deleted account (a null author)."""
    author = None if login is None else {"__typename": typename, "login": login}
    # fullDatabaseId is a BigInt, which GitHub encodes as a string.
    return {"author": author, "body": body, "fullDatabaseId": str(database_id)}


def thread_json(
    thread_id: str,
    *comments: dict[str, Any],
    resolved: bool = False,
    outdated: bool = False,
    path: str = "src/app.py",
    line: int | None = 12,
    more_comments: bool = False,
) -> dict[str, Any]:
    return {
        "id": thread_id,
        "isResolved": resolved,
        "isOutdated": outdated,
        "path": path,
        "line": line,
        "comments": {"nodes": list(comments), "pageInfo": {"hasNextPage": more_comments}},
    }


def threads_json(*threads: dict[str, Any], next_cursor: str | None = None) -> dict[str, Any]:
    """One page of reviewThreads; GitHub gives an endCursor on the last page too."""
    page = {"hasNextPage": next_cursor is not None, "endCursor": next_cursor or "Y3Vyc29yOmxhc3Q="}
    connection = {"nodes": list(threads), "pageInfo": page}
    return {"data": {"repository": {"pullRequest": {"reviewThreads": connection}}}}


def resolved_json(thread_id: str) -> dict[str, Any]:
    return {"data": {"resolveReviewThread": {"thread": {"id": thread_id, "isResolved": True}}}}


def compared_file(
    filename: str, patch: str | None, *, status: str = "modified", **extra: Any
) -> dict[str, Any]:
    """One entry of a comparison's `files`, shaped like GitHub's diff-entry."""
    [example] = openapi_example("commit-comparison")["files"]
    entry = {k: v for k, v in example.items() if k != "patch"}
    body = patch.split("\n") if patch else []
    entry.update(
        filename=filename,
        status=status,
        additions=sum(1 for line in body if line.startswith("+")),
        deletions=sum(1 for line in body if line.startswith("-")),
        **extra,
    )
    entry["changes"] = entry["additions"] + entry["deletions"]
    if patch is not None:
        entry["patch"] = patch
    return entry


def comparison_json(
    *, status: str = "ahead", commits: int = 1, files: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """GET /repos/{o}/{r}/compare/{base}...{head}, from GitHub's example, as told."""
    data = copy.deepcopy(openapi_example("commit-comparison"))
    [commit] = data["commits"]
    data["commits"] = [{**commit, "sha": f"{n + 1:040x}"} for n in range(commits)]
    data.update(
        status=status,
        ahead_by=commits if status in ("ahead", "diverged") else 0,
        behind_by=2 if status in ("behind", "diverged") else 0,
        total_commits=commits,
        files=files or [],
    )
    return data
