"""The GitHub client against GitHub's own example responses, with `responses` at the transport.

Every request the client sends is checked against GitHub's REST description when the `api`
fixture tears down, so each test also proves its requests (and write bodies) are valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from reviews.github.client import DiffTooLarge, GitHubClient, GitHubError
from reviews.github.resources import Comment, PullRequest, ReviewComment
from tests import stubs
from tests.fixtures import OPENAPI, diff_text, github_response, openapi_example
from tests.openapi import assert_valid_request

API = "https://api.github.test"
GHE = "https://ghe.test/api/v3"
TOKEN = "ghs_prismTestToken0123456789abcdefXYZ"
REPO = "octocat/Hello-World"
NUMBER = 1347
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
OLD_HEAD = "bbcd538c8e72b8c175046e27cc8f907076331401"
NOW = 1_700_000_000.0

SECONDARY_LIMIT = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
    "try again. If you reach out to GitHub Support for help, please include the request ID "
    "DBF1:2B7C:2A3F1B:56C0A2:65A7C0A1.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}
PRIMARY_LIMIT = {
    "message": "API rate limit exceeded for installation ID 123456.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}
DIFF_TOO_LARGE = {  # docs/github-facts.md R2
    "message": "Sorry, the diff exceeded the maximum number of files (300). Consider using "
    "'List pull requests files' API or locally cloning the repository instead.",
    "errors": [{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
    "documentation_url": "https://docs.github.com/rest/pulls/pulls#list-pull-requests-files",
}
BODY_TOO_LONG = {  # docs/github-facts.md C2
    "message": "Validation Failed",
    "errors": [
        {
            "resource": "IssueComment",
            "code": "unprocessable",
            "field": "data",
            "message": "Body is too long (maximum is 65536 characters)",
        }
    ],
    "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
}
LINE_NOT_IN_DIFF = {  # docs/github-facts.md C4
    "message": "Unprocessable Entity",
    "errors": [
        "Pull request review thread line must be part of the diff and Pull request review "
        "thread diff hunk can't be blank"
    ],
    "documentation_url": "https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request",
}
REACTIONS = "reactions.list-for-pull-request-review-comment.200.default.json"
NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
BAD_CREDENTIALS = {
    "message": "Bad credentials",
    "documentation_url": "https://docs.github.com/rest",
}
FORBIDDEN = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest",
}


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        for call in mock.calls:
            # Link headers point at /repositories/{id}/...: GitHub's URL, not one we build.
            if "/repositories/" not in (call.request.url or ""):
                assert_valid_request(call.request)


def assert_github_headers(request: Any, *, accept: str = "application/vnd.github+json") -> None:
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == accept
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["User-Agent"].startswith("Prism-Review-Bot")
    assert request.req_kwargs["timeout"] == (5.0, 20.0)


def file_entries(count: int, start: int = 0) -> list[dict[str, Any]]:
    [entry] = github_response("pulls.list-files.200.default.json")
    return [{**entry, "filename": f"src/file{n}.py"} for n in range(start, start + count)]


def next_link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="next", <{url}&last=1>; rel="last"'}


# Every client call, so each failure mode is tried on each of them.


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    invoke: Callable[[GitHubClient], Any]
    success: dict[str, Any]


CALLS = [
    Call(
        "get_pull_request",
        "GET",
        f"/repos/{REPO}/pulls/{NUMBER}",
        lambda c: c.get_pull_request(REPO, NUMBER),
        {"json": github_response("pulls.get.200.default.json")},
    ),
    Call(
        "get_diff",
        "GET",
        f"/repos/{REPO}/pulls/{NUMBER}",
        lambda c: c.get_diff(REPO, NUMBER),
        {"body": diff_text("01-plain-modification"), "content_type": "application/vnd.github.diff"},
    ),
    Call(
        "list_files",
        "GET",
        f"/repos/{REPO}/pulls/{NUMBER}/files?per_page=100",
        lambda c: c.list_files(REPO, NUMBER),
        {"json": github_response("pulls.list-files.200.default.json")},
    ),
    Call(
        "authenticated_login",
        "GET",
        "/user",
        lambda c: c.authenticated_login(),
        {"json": {"login": "octocat", "id": 1, "type": "User"}},
    ),
    Call(
        "list_issue_comments",
        "GET",
        f"/repos/{REPO}/issues/{NUMBER}/comments?per_page=100",
        lambda c: list(c.list_issue_comments(REPO, NUMBER)),
        {"json": github_response("issues.list-comments.200.default.json")},
    ),
    Call(
        "create_issue_comment",
        "POST",
        f"/repos/{REPO}/issues/{NUMBER}/comments",
        lambda c: c.create_issue_comment(REPO, NUMBER, "Prism found 2 issues."),
        {"json": github_response("issues.create-comment.201.default.json"), "status": 201},
    ),
    Call(
        "update_issue_comment",
        "PATCH",
        f"/repos/{REPO}/issues/comments/1",
        lambda c: c.update_issue_comment(REPO, 1, "Prism found 3 issues."),
        {"json": github_response("issues.update-comment.200.default.json")},
    ),
    Call(
        "list_review_comments",
        "GET",
        f"/repos/{REPO}/pulls/{NUMBER}/comments?per_page=100",
        lambda c: list(c.list_review_comments(REPO, NUMBER)),
        {"json": github_response("pulls.list-review-comments.200.default.json")},
    ),
    Call(
        "list_review_comment_reactions",
        "GET",
        f"/repos/{REPO}/pulls/comments/42/reactions?per_page=100",
        lambda c: list(c.list_review_comment_reactions(REPO, 42)),
        {"json": github_response(REACTIONS)},
    ),
    Call(
        "create_review",
        "POST",
        f"/repos/{REPO}/pulls/{NUMBER}/reviews",
        lambda c: c.create_review(
            REPO,
            NUMBER,
            commit_id=SHA,
            body="Prism review",
            comments=[{"path": "file1.txt", "line": 2, "side": "RIGHT", "body": "Off by one?"}],
        ),
        {"json": github_response("pulls.create-review.200.default.json")},
    ),
    Call(
        "create_commit_status",
        "POST",
        f"/repos/{REPO}/statuses/{SHA}",
        lambda c: c.create_commit_status(REPO, SHA, state="pending", description="Reviewing"),
        {"json": github_response("repos.create-commit-status.201.default.json"), "status": 201},
    ),
    Call(
        "compare",
        "GET",
        f"/repos/{REPO}/compare/{OLD_HEAD}...{SHA}",
        lambda c: c.compare(REPO, OLD_HEAD, SHA),
        {"json": openapi_example("commit-comparison")},
    ),
]
CALLS += [
    Call(
        "add_reaction",
        "POST",
        f"/repos/{REPO}/issues/comments/42/reactions",
        lambda c: c.add_reaction(REPO, 42, "eyes", review_comment=False),
        {
            "json": github_response("reactions.create-for-issue-comment.201.default.json"),
            "status": 201,
        },
    ),
    Call(
        "add_reaction_on_a_review_comment",
        "POST",
        f"/repos/{REPO}/pulls/comments/42/reactions",
        lambda c: c.add_reaction(REPO, 42, "rocket", review_comment=True),
        {
            "json": github_response(
                "reactions.create-for-pull-request-review-comment.201.default.json"
            ),
            "status": 201,
        },
    ),
    Call(
        "reply_to_review_comment",
        "POST",
        f"/repos/{REPO}/pulls/{NUMBER}/comments/42/replies",
        lambda c: c.reply_to_review_comment(REPO, NUMBER, 42, "It is reachable from the API."),
        {
            "json": github_response("pulls.create-reply-for-review-comment.201.default.json"),
            "status": 201,
        },
    ),
]
each_call = pytest.mark.parametrize("call", CALLS, ids=[call.name for call in CALLS])


@each_call
@pytest.mark.parametrize("base_url", [API, GHE])
def test_each_call_sends_githubs_headers_to_the_exact_url(
    api, make_client, call: Call, base_url: str
) -> None:
    api.add(call.method, base_url + call.path, **call.success)

    call.invoke(make_client(base_url))

    [sent] = api.calls
    accept = "application/vnd.github.diff" if call.name == "get_diff" else None
    assert_github_headers(sent.request, **({"accept": accept} if accept else {}))
    assert_valid_request(sent.request, base_url=base_url)


@each_call
def test_a_404_is_permanent(api, client, call: Call) -> None:
    api.add(call.method, API + call.path, json=NOT_FOUND, status=404)

    with pytest.raises(GitHubError) as raised:
        call.invoke(client)

    assert raised.value.permanent is True
    assert raised.value.status == 404
    assert raised.value.retry_after is None
    assert "Not Found" in str(raised.value)


@each_call
def test_a_422_is_permanent_and_says_what_github_refused(api, client, call: Call) -> None:
    api.add(call.method, API + call.path, json=BODY_TOO_LONG, status=422)

    with pytest.raises(GitHubError) as raised:
        call.invoke(client)

    assert raised.value.permanent is True
    assert raised.value.status == 422
    assert "Validation Failed" in str(raised.value)
    assert "IssueComment.data: Body is too long (maximum is 65536 characters)" in str(raised.value)


@each_call
def test_a_401_is_permanent(api, client, call: Call) -> None:
    api.add(call.method, API + call.path, json=BAD_CREDENTIALS, status=401)

    with pytest.raises(GitHubError) as raised:
        call.invoke(client)

    assert (raised.value.status, raised.value.permanent) == (401, True)
    assert "Bad credentials" in str(raised.value)


@each_call
def test_a_403_without_rate_limit_signs_is_a_permanent_permission_error(
    api, client, sleeps, call: Call
) -> None:
    api.add(
        call.method,
        API + call.path,
        json=FORBIDDEN,
        status=403,
        headers={"x-ratelimit-remaining": "4999"},
    )

    with pytest.raises(GitHubError) as raised:
        call.invoke(client)

    assert (raised.value.status, raised.value.permanent) == (403, True)
    assert sleeps == []


@each_call
def test_a_secondary_rate_limit_with_a_short_retry_after_sleeps_then_succeeds(
    api, client, sleeps, call: Call
) -> None:
    api.add(
        call.method, API + call.path, json=SECONDARY_LIMIT, status=403, headers={"Retry-After": "3"}
    )
    api.add(call.method, API + call.path, **call.success)

    call.invoke(client)

    assert sleeps == [3.0]
    assert len(api.calls) == 2


@each_call
def test_a_429_with_a_long_retry_after_is_left_to_the_task(api, client, sleeps, call: Call) -> None:
    api.add(
        call.method,
        API + call.path,
        json=SECONDARY_LIMIT,
        status=429,
        headers={"Retry-After": "120"},
    )

    with pytest.raises(GitHubError) as raised:
        call.invoke(client)

    assert raised.value.permanent is False
    assert raised.value.retry_after == 120.0
    assert raised.value.status == 429
    assert sleeps == []  # a worker is never held for two minutes


@each_call
def test_a_502_then_success_is_retried_after_a_jittered_backoff(
    api, client, sleeps, call: Call
) -> None:
    api.add(call.method, API + call.path, body="<html>Bad Gateway</html>", status=502)
    api.add(call.method, API + call.path, **call.success)

    call.invoke(client)

    assert len(api.calls) == 2
    [delay] = sleeps
    assert 0 <= delay <= 0.5


@each_call
def test_connection_errors_exhaust_the_retries_then_fail_transiently(
    api, client, sleeps, call: Call
) -> None:
    for _ in range(4):
        api.add(call.method, API + call.path, body=requests.ConnectionError("connection reset"))

    with pytest.raises(GitHubError) as raised:
        call.invoke(client)

    assert raised.value.permanent is False
    assert raised.value.status is None
    assert "ConnectionError" in str(raised.value)
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):
        assert 0 <= delay <= 0.5 * 2**attempt


# Reading the pull request


def test_it_parses_a_pull_request_from_githubs_example(api, client) -> None:
    api.add(
        "GET",
        f"{API}/repos/{REPO}/pulls/{NUMBER}",
        json=github_response("pulls.get.200.default.json"),
    )

    assert client.get_pull_request(REPO, NUMBER) == PullRequest(
        repo_full_name=REPO,
        number=1347,
        state="open",
        merged=False,
        draft=False,
        head_sha=SHA,
        base_sha=SHA,
        title="Amazing new feature",
        body="Please pull these awesome changes in!",
        base_ref="master",
        labels=("bug",),
        html_url="https://github.com/octocat/Hello-World/pull/1347",
        author="octocat",
    )


def test_a_null_body_and_a_deleted_author_are_tolerated(api, client) -> None:
    data = github_response("pulls.get.200.default.json")
    data.update(body=None, user=None)
    del data["draft"]
    api.add("GET", f"{API}/repos/{REPO}/pulls/{NUMBER}", json=data)

    pull = client.get_pull_request(REPO, NUMBER)

    assert (pull.body, pull.author, pull.draft) == ("", "", False)


def test_the_diff_is_read_as_utf8_even_without_a_charset(api, client) -> None:
    text = diff_text("14-non-ascii-emoji")
    api.add(
        "GET",
        f"{API}/repos/{REPO}/pulls/{NUMBER}",
        body=text.encode("utf-8"),
        content_type="application/vnd.github.diff",
        match=[matchers.header_matcher({"Accept": "application/vnd.github.diff"})],
    )

    assert client.get_diff(REPO, NUMBER) == text


def test_a_406_on_the_diff_raises_diff_too_large(api, client, sleeps) -> None:
    api.add("GET", f"{API}/repos/{REPO}/pulls/{NUMBER}", json=DIFF_TOO_LARGE, status=406)

    with pytest.raises(DiffTooLarge) as raised:
        client.get_diff(REPO, NUMBER)

    assert raised.value.permanent is True
    assert raised.value.status == 406
    assert "maximum number of files (300)" in str(raised.value)
    assert "PullRequest.diff: too_large" in str(raised.value)
    assert sleeps == []


def test_list_files_follows_link_headers_across_three_pages(api, client) -> None:
    # GitHub's next links name the repository by id; the client must follow them as given.
    page2 = f"{API}/repositories/1296269/pulls/{NUMBER}/files?per_page=100&page=2"
    page3 = f"{API}/repositories/1296269/pulls/{NUMBER}/files?per_page=100&page=3"
    api.add(
        "GET",
        f"{API}/repos/{REPO}/pulls/{NUMBER}/files?per_page=100",
        json=file_entries(100),
        headers=next_link(page2),
    )
    api.add("GET", page2, json=file_entries(100, start=100), headers=next_link(page3))
    api.add("GET", page3, json=file_entries(42, start=200))

    files = client.list_files(REPO, NUMBER)

    assert [f["filename"] for f in files] == [f"src/file{n}.py" for n in range(242)]
    assert [call.request.url for call in api.calls][1:] == [page2, page3]
    for call in api.calls:
        assert_github_headers(call.request)


def test_list_files_stops_at_3000_files(api, client) -> None:
    url = f"{API}/repos/{REPO}/pulls/{NUMBER}/files?per_page=100"
    for page in range(1, 31):
        next_url = f"{API}/repositories/1296269/pulls/{NUMBER}/files?per_page=100&page={page + 1}"
        api.add(
            "GET", url, json=file_entries(100, start=(page - 1) * 100), headers=next_link(next_url)
        )
        url = next_url

    files = client.list_files(REPO, NUMBER)

    assert len(files) == 3000
    assert len(api.calls) == 30  # page 31 is never asked for


def test_a_pagination_link_to_another_host_is_not_followed(api, client) -> None:
    api.add(
        "GET",
        f"{API}/repos/{REPO}/pulls/{NUMBER}/files?per_page=100",
        json=file_entries(100),
        headers=next_link("https://evil.test/steal?page=2"),
    )

    with pytest.raises(GitHubError) as raised:
        client.list_files(REPO, NUMBER)

    assert raised.value.permanent is True


# Conversation comments


def test_issue_comments_are_listed_across_pages(api, client) -> None:
    [comment] = github_response("issues.list-comments.200.default.json")
    page2 = f"{API}/repositories/1296269/issues/{NUMBER}/comments?per_page=100&page=2"
    api.add(
        "GET",
        f"{API}/repos/{REPO}/issues/{NUMBER}/comments?per_page=100",
        json=[comment],
        headers=next_link(page2),
    )
    api.add("GET", page2, json=[{**comment, "id": 2, "body": "<!-- prism -->", "user": None}])

    comments = list(client.list_issue_comments(REPO, NUMBER))

    assert comments == [
        Comment(
            id=1,
            body="Me too",
            html_url="https://github.com/octocat/Hello-World/issues/1347#issuecomment-1",
            author="octocat",
        ),
        Comment(
            id=2,
            body="<!-- prism -->",
            html_url="https://github.com/octocat/Hello-World/issues/1347#issuecomment-1",
            author="",
        ),
    ]


def test_it_creates_an_issue_comment(api, client) -> None:
    api.add(
        "POST",
        f"{API}/repos/{REPO}/issues/{NUMBER}/comments",
        json=github_response("issues.create-comment.201.default.json"),
        status=201,
        match=[matchers.json_params_matcher({"body": "Prism found 2 issues."}, strict_match=True)],
    )

    comment = client.create_issue_comment(REPO, NUMBER, "Prism found 2 issues.")

    assert comment.id == 1
    assert comment.author == "octocat"
    assert_github_headers(api.calls[0].request)
    assert api.calls[0].request.headers["Content-Type"] == "application/json"


def test_it_updates_an_issue_comment(api, make_client) -> None:
    api.add(
        "PATCH",
        f"{GHE}/repos/{REPO}/issues/comments/1",
        json=github_response("issues.update-comment.200.default.json"),
        match=[matchers.json_params_matcher({"body": "Updated."}, strict_match=True)],
    )

    comment = make_client(GHE).update_issue_comment(REPO, 1, "Updated.")

    assert comment.html_url == "https://github.com/octocat/Hello-World/issues/1347#issuecomment-1"


def test_a_body_over_githubs_limit_is_refused_before_sending(api, client) -> None:
    with pytest.raises(ValueError, match="65536"):
        client.create_issue_comment(REPO, NUMBER, "x" * 65537)


def test_a_too_long_comment_that_github_refuses_is_permanent(api, client) -> None:
    api.add("POST", f"{API}/repos/{REPO}/issues/{NUMBER}/comments", json=BODY_TOO_LONG, status=422)

    with pytest.raises(GitHubError) as raised:
        client.create_issue_comment(REPO, NUMBER, "long")

    assert raised.value.permanent is True
    assert "Body is too long (maximum is 65536 characters)" in str(raised.value)


# Reviews and statuses


def test_review_comments_are_parsed_for_already_posted_checks(api, client) -> None:
    api.add(
        "GET",
        f"{API}/repos/{REPO}/pulls/{NUMBER}/comments?per_page=100",
        json=github_response("pulls.list-review-comments.200.default.json"),
    )

    assert list(client.list_review_comments(REPO, NUMBER)) == [
        ReviewComment(
            id=10, path="file1.txt", line=2, side="RIGHT", body="Great stuff!", author="octocat"
        )
    ]


def test_an_outdated_review_comment_has_no_line(api, client) -> None:
    [comment] = github_response("pulls.list-review-comments.200.default.json")
    comment.update(line=None, side=None)
    api.add("GET", f"{API}/repos/{REPO}/pulls/{NUMBER}/comments?per_page=100", json=[comment])

    [parsed] = client.list_review_comments(REPO, NUMBER)

    assert parsed.line is None


def test_a_review_is_always_a_comment_never_an_approval(api, client) -> None:
    expected = {
        "commit_id": SHA,
        "body": "Prism found 2 issues.",
        "event": "COMMENT",
        "comments": [
            {"path": "a.py", "line": 12, "side": "RIGHT", "body": "Unchecked None."},
            {
                "path": "b.py",
                "line": 30,
                "side": "RIGHT",
                "body": "This loop never ends.",
                "start_line": 28,
                "start_side": "RIGHT",
            },
        ],
    }
    api.add(
        "POST",
        f"{API}/repos/{REPO}/pulls/{NUMBER}/reviews",
        json=github_response("pulls.create-review.200.default.json"),
        match=[matchers.json_params_matcher(expected, strict_match=True)],
    )

    review_id = client.create_review(
        REPO,
        NUMBER,
        commit_id=SHA,
        body="Prism found 2 issues.",
        comments=[
            {
                "path": "a.py",
                "line": 12,
                "side": "RIGHT",
                "body": "Unchecked None.",
                "start_line": None,
            },
            {
                "path": "b.py",
                "line": 30,
                "side": "RIGHT",
                "body": "This loop never ends.",
                "start_line": 28,
                "start_side": "RIGHT",
                "severity": "high",  # our own fields never reach GitHub
            },
        ],
    )

    assert review_id == 80


def test_a_review_line_outside_the_diff_is_a_permanent_422(api, client) -> None:
    api.add("POST", f"{API}/repos/{REPO}/pulls/{NUMBER}/reviews", json=LINE_NOT_IN_DIFF, status=422)

    with pytest.raises(GitHubError) as raised:
        client.create_review(
            REPO,
            NUMBER,
            commit_id=SHA,
            body="x",
            comments=[{"path": "a.py", "line": 999, "side": "RIGHT", "body": "?"}],
        )

    assert raised.value.permanent is True
    assert "line must be part of the diff" in str(raised.value)


def test_a_commit_status_description_is_cut_to_140_characters(api, client) -> None:
    api.add(
        "POST",
        f"{API}/repos/{REPO}/statuses/{SHA}",
        json=github_response("repos.create-commit-status.201.default.json"),
        status=201,
    )

    client.create_commit_status(
        REPO,
        SHA,
        state="failure",
        description="d" * 300,
        target_url="https://prism.example/analyses/7",
    )

    body = json.loads(api.calls[0].request.body)
    assert len(body["description"]) == 140
    assert body == {
        "state": "failure",
        "description": "d" * 139 + "…",
        "context": "prism/review",
        "target_url": "https://prism.example/analyses/7",
    }


def test_an_unknown_commit_status_state_is_refused_before_sending(api, client) -> None:
    with pytest.raises(ValueError, match="state"):
        client.create_commit_status(REPO, SHA, state="ok", description="x")


# Rate limits and transient failures beyond the per-call matrix


def test_a_secondary_rate_limit_without_retry_after_waits_at_least_a_minute(
    api, client, sleeps
) -> None:
    api.add("GET", f"{API}/repos/{REPO}/pulls/{NUMBER}", json=SECONDARY_LIMIT, status=403)

    with pytest.raises(GitHubError) as raised:
        client.get_pull_request(REPO, NUMBER)

    assert (raised.value.permanent, raised.value.retry_after) == (False, 60.0)
    assert sleeps == []


def test_an_exhausted_primary_limit_waits_until_the_reset_time(api, client, sleeps) -> None:
    api.add(
        "GET",
        f"{API}/repos/{REPO}/pulls/{NUMBER}",
        json=PRIMARY_LIMIT,
        status=403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 900)},
    )

    with pytest.raises(GitHubError) as raised:
        client.get_pull_request(REPO, NUMBER)

    assert (raised.value.permanent, raised.value.retry_after) == (False, 900.0)
    assert sleeps == []


def test_a_primary_limit_resetting_soon_is_waited_out_in_process(api, client, sleeps) -> None:
    url = f"{API}/repos/{REPO}/pulls/{NUMBER}"
    reset = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 4)}
    api.add("GET", url, json=PRIMARY_LIMIT, status=429, headers=reset)
    api.add("GET", url, json=github_response("pulls.get.200.default.json"))

    assert client.get_pull_request(REPO, NUMBER).number == NUMBER
    assert sleeps == [4.0]


def test_a_rate_limit_that_persists_is_handed_to_the_task_after_two_waits(
    api, client, sleeps
) -> None:
    for _ in range(3):
        api.add(
            "GET",
            f"{API}/repos/{REPO}/pulls/{NUMBER}",
            json=SECONDARY_LIMIT,
            status=403,
            headers={"Retry-After": "5"},
        )

    with pytest.raises(GitHubError) as raised:
        client.get_pull_request(REPO, NUMBER)

    assert (raised.value.permanent, raised.value.retry_after) == (False, 5.0)
    assert sleeps == [5.0, 5.0]


def test_max_wait_is_configurable(api, make_client, sleeps) -> None:
    url = f"{API}/repos/{REPO}/pulls/{NUMBER}"
    api.add("GET", url, json=SECONDARY_LIMIT, status=429, headers={"Retry-After": "30"})
    api.add("GET", url, json=github_response("pulls.get.200.default.json"))

    make_client(max_wait=60).get_pull_request(REPO, NUMBER)

    assert sleeps == [30.0]


def test_a_5xx_that_persists_fails_transiently_with_growing_backoff(api, client, sleeps) -> None:
    for _ in range(4):
        api.add("GET", f"{API}/repos/{REPO}/pulls/{NUMBER}", body="unavailable", status=503)

    with pytest.raises(GitHubError) as raised:
        client.get_pull_request(REPO, NUMBER)

    assert (raised.value.status, raised.value.permanent) == (503, False)
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps):
        assert 0 <= delay <= 0.5 * 2**attempt


def test_a_read_timeout_is_retried(api, client, sleeps) -> None:
    url = f"{API}/repos/{REPO}/pulls/{NUMBER}"
    api.add("GET", url, body=requests.ReadTimeout("read timed out"))
    api.add("GET", url, json=github_response("pulls.get.200.default.json"))

    assert client.get_pull_request(REPO, NUMBER).number == NUMBER
    assert len(sleeps) == 1


# Inputs and secrets


@pytest.mark.parametrize(
    "repo", ["octocat", "octocat/Hello-World/pulls", "../etc", "octocat/..", "o/r?x=1", "o/ r", ""]
)
def test_a_repo_that_is_not_owner_slash_name_is_refused(api, client, repo: str) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        client.get_pull_request(repo, NUMBER)


def test_a_bad_repo_is_refused_when_a_listing_is_asked_for_not_when_it_is_read(api, client) -> None:
    with pytest.raises(ValueError, match="owner/name"):
        client.list_issue_comments("not-a-repo", NUMBER)


@pytest.mark.parametrize("number", [0, -1, "1347", True])
def test_a_pull_number_must_be_a_positive_integer(api, client, number: Any) -> None:
    with pytest.raises(ValueError):
        client.get_pull_request(REPO, number)


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (401, BAD_CREDENTIALS, {}),
        (403, FORBIDDEN, {}),
        (404, NOT_FOUND, {}),
        (422, BODY_TOO_LONG, {}),
        (429, SECONDARY_LIMIT, {"Retry-After": "600"}),
        (503, {"message": "Service Unavailable"}, {}),
        # Nothing should make GitHub echo a token, but if it did, it must not reach our logs.
        (401, {"message": f"Bad credentials: {TOKEN}"}, {}),
    ],
)
def test_the_token_never_appears_in_an_error(
    api, client, status: int, body: dict[str, Any], headers: dict[str, str]
) -> None:
    times = 4 if status == 503 else 1
    for _ in range(times):
        api.add(
            "GET", f"{API}/repos/{REPO}/pulls/{NUMBER}", json=body, status=status, headers=headers
        )

    with pytest.raises(GitHubError) as raised:
        client.get_pull_request(REPO, NUMBER)

    for text in (str(raised.value), repr(raised.value), repr(client)):
        assert TOKEN not in text
        assert "Bearer" not in text


def test_the_token_never_appears_in_a_connection_error(api, client) -> None:
    for _ in range(4):
        api.add("GET", f"{API}/repos/{REPO}/pulls/{NUMBER}", body=requests.ConnectionError(TOKEN))

    with pytest.raises(GitHubError) as raised:
        client.get_pull_request(REPO, NUMBER)

    assert TOKEN not in str(raised.value)


# The request validator itself


def prepared(method: str, url: str, **kwargs: Any) -> requests.PreparedRequest:
    return requests.Request(method, url, **kwargs).prepare()


def test_the_validator_accepts_a_valid_review() -> None:
    assert_valid_request(
        prepared(
            "POST",
            f"{GHE}/repos/{REPO}/pulls/{NUMBER}/reviews",
            json={"commit_id": SHA, "body": "ok", "event": "COMMENT", "comments": []},
        )
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "complaint"),
    [
        (
            "POST",
            f"/repos/{REPO}/pulls/{NUMBER}/reviews",
            {"json": {"body": "ok", "event": "APPROVED"}},
            "'APPROVED' is not one of",
        ),
        ("POST", f"/repos/{REPO}/statuses/{SHA}", {"json": {"state": "ok"}}, "'ok' is not one of"),
        (
            "POST",
            f"/repos/{REPO}/issues/{NUMBER}/comments",
            {"json": {"text": "hi"}},
            "'body' is a required property",
        ),
        (
            "POST",
            f"/repos/{REPO}/pulls/{NUMBER}/reviews",
            {"json": {"event": "COMMENT", "body": "b", "comments": [{"path": "a", "line": 1}]}},
            "at comments/0: 'body' is a required property",
        ),
        (
            "POST",
            f"/repos/{REPO}/pulls/{NUMBER}/reviews",
            {"json": {"body": "b", "comments": [{"path": "a", "body": "c", "start_lin": 1}]}},
            "Additional properties are not allowed ('start_lin' was unexpected)",
        ),
        ("POST", f"/repos/{REPO}/issues/{NUMBER}/comments", {}, "a request body is required"),
        (
            "GET",
            f"/repos/{REPO}/pulls/{NUMBER}/files?per_page=101",
            {},
            "101 is greater than the maximum of 100",
        ),
        ("GET", f"/repos/{REPO}/pulls/{NUMBER}/files?limit=5", {}, "'limit' is not declared"),
        ("GET", f"/repos/{REPO}/pulls/abc", {}, "'abc' is not of type 'integer'"),
        ("DELETE", f"/repos/{REPO}/pulls/{NUMBER}", {}, "has no DELETE operation"),
        ("GET", f"/repos/{REPO}/pulls/{NUMBER}/commits", {}, "no such path"),
        ("GET", f"/repos/{REPO}/pulls/{NUMBER}", {"json": {"x": 1}}, "takes no request body"),
    ],
)
def test_the_validator_rejects_what_github_does_not_describe(
    method: str, path: str, kwargs: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        assert_valid_request(prepared(method, API + path, **kwargs))


def request_examples() -> list[Any]:
    examples = []
    for template, operations in json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"].items():
        path = re.sub(r"\{\w+\}", "1", template.replace("{owner}/{repo}", REPO))
        path = path.replace("/statuses/1", f"/statuses/{SHA}")
        for method, operation in operations.items():
            media = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            for name, example in media.get("examples", {}).items():
                examples.append(
                    pytest.param(
                        method.upper(),
                        path,
                        example["value"],
                        id=f"{operation['operationId']}:{name}",
                    )
                )
    return examples


@pytest.mark.parametrize(("method", "path", "body"), request_examples())
def test_the_validator_accepts_githubs_own_request_examples(
    method: str, path: str, body: Any
) -> None:
    assert_valid_request(prepared(method, API + path, json=body))


def test_the_validator_checks_the_base_url_it_is_given() -> None:
    request = prepared("GET", f"{API}/repos/{REPO}/pulls/{NUMBER}")

    with pytest.raises(AssertionError, match="not under"):
        assert_valid_request(request, base_url=GHE)


def test_the_authenticated_login_is_asked_once_per_token(api, client) -> None:
    api.add("GET", f"{API}/user", json={"login": "prism-bot", "id": 7, "type": "User"})

    assert [client.authenticated_login() for _ in range(3)] == ["prism-bot"] * 3
    assert len(api.calls) == 1


# Compare two commits: what a push added since the last reviewed head.


def test_compare_parses_githubs_example(api, client) -> None:
    api.get(
        f"{API}/repos/{REPO}/compare/{OLD_HEAD}...{SHA}",
        json=openapi_example("commit-comparison"),
    )

    comparison = client.compare(REPO, OLD_HEAD, SHA)

    assert (comparison.status, comparison.ahead_by, comparison.behind_by) == ("behind", 1, 2)
    assert comparison.total_commits == 1
    assert comparison.commits == ("6dcb09b5b57875f334f61aebed695e2e4193db5e",)
    assert comparison.files is not None
    [file] = comparison.files
    assert (file.filename, file.status, file.previous_filename) == ("file1.txt", "added", None)
    assert file.patch is not None and file.patch.startswith("@@ -132,7 +132,7 @@")
    assert (file.additions, file.deletions, file.patch_missing) == (103, 21, False)
    assert not comparison.truncated


def test_compare_reads_renames_and_files_github_sent_no_patch_for(api, client) -> None:
    renamed = stubs.compared_file(
        "src/new.py", "@@ -1 +1 @@\n-a\n+b", status="renamed", previous_filename="src/old.py"
    )
    huge = {**stubs.compared_file("data/huge.json", None), "additions": 9000, "deletions": 1}
    image = stubs.compared_file("logo.png", None)
    api.get(
        f"{API}/repos/{REPO}/compare/{OLD_HEAD}...{SHA}",
        json=stubs.comparison_json(commits=3, files=[renamed, huge, image]),
    )

    comparison = client.compare(REPO, OLD_HEAD, SHA)

    assert (comparison.status, comparison.total_commits, len(comparison.commits)) == ("ahead", 3, 3)
    files = {file.filename: file for file in comparison.files or ()}
    assert files["src/new.py"].previous_filename == "src/old.py"
    assert files["src/new.py"].patch == "@@ -1 +1 @@\n-a\n+b"
    assert (files["data/huge.json"].patch, files["data/huge.json"].patch_missing) == (None, True)
    assert (files["logo.png"].patch, files["logo.png"].patch_missing) == (None, False)


@pytest.mark.parametrize(
    ("commits", "files", "truncated"),
    [(249, 299, False), (250, 1, True), (1, 300, True)],
    ids=["under-the-caps", "250-commits", "300-files"],
)
def test_a_comparison_at_githubs_caps_is_truncated(
    api, client, commits: int, files: int, truncated: bool
) -> None:
    entries = [stubs.compared_file(f"f{n}.py", "@@ -1 +1 @@\n-a\n+b") for n in range(files)]
    api.get(
        f"{API}/repos/{REPO}/compare/{OLD_HEAD}...{SHA}",
        json=stubs.comparison_json(commits=commits, files=entries),
    )

    assert client.compare(REPO, OLD_HEAD, SHA).truncated is truncated


def test_a_comparison_listing_fewer_commits_than_it_counts_is_truncated(api, client) -> None:
    data = {**stubs.comparison_json(commits=250), "total_commits": 400}
    api.get(f"{API}/repos/{REPO}/compare/{OLD_HEAD}...{SHA}", json=data)

    comparison = client.compare(REPO, OLD_HEAD, SHA)

    assert comparison.total_commits == 400 and comparison.truncated


def test_compare_takes_only_commit_shas(api, client) -> None:
    with pytest.raises(ValueError, match="SHA"):
        client.compare(REPO, "main", SHA)
    with pytest.raises(ValueError, match="SHA"):
        client.compare(REPO, OLD_HEAD, "../../user")


PERMISSION = (
    "repos.get-collaborator-permission-level.200.response-if-user-has-admin-permissions.json"
)


def test_collaborator_role_reads_the_role_name(api, client) -> None:
    api.get(
        f"{API}/repos/{REPO}/collaborators/octocat/permission", json=github_response(PERMISSION)
    )

    assert client.collaborator_role(REPO, "octocat") == "admin"


def test_collaborator_role_is_empty_for_someone_github_does_not_know(api, client) -> None:
    api.get(
        f"{API}/repos/{REPO}/collaborators/nobody/permission",
        status=404,
        json={"message": "Not Found"},
    )

    assert client.collaborator_role(REPO, "nobody") == ""


def test_collaborator_role_refuses_what_is_not_a_login(client) -> None:
    for login in ("../../user", "a/b", "", "x" * 60):
        with pytest.raises(ValueError, match="not a GitHub login"):
            client.collaborator_role(REPO, login)


def test_a_reaction_github_does_not_know_is_refused_before_sending(client) -> None:
    with pytest.raises(ValueError, match="reaction must be one of"):
        client.add_reaction(REPO, 42, "thumbsup", review_comment=False)
