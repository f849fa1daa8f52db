"""GitHub's REST and GraphQL calls Prism makes, each with its docs link and typed result.

The transport (session, retries, rate limits, pagination) is in transport.py; the rules both
follow are in docs/github-facts.md (R1-R4, C1-C5, L1-L4). No Django imports.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

from reviews.github import graphql, resources

# Callers import DiffTooLarge and GitHubError from here.
from reviews.github.errors import DiffTooLarge, GitHubError, RateLimited, json_object
from reviews.github.resources import MAX_COMMENT_CHARS
from reviews.github.transport import Transport, owner_name

__all__ = ["DiffTooLarge", "GitHubClient", "GitHubError", "RateLimited"]

DIFF_MEDIA_TYPE = "application/vnd.github.diff"
MAX_FILES = 3000  # list_files never returns more than this (docs/github-facts.md R3)
STATUS_DESCRIPTION_CHARS = 140  # GitHub rejects longer commit status descriptions
REVIEW_EVENT = "COMMENT"  # Prism never approves nor requests changes
STATUS_STATES = frozenset({"error", "failure", "pending", "success"})
# Check runs (docs/github-facts.md C6: a GitHub App with checks:write only).
CHECK_CONCLUSIONS = frozenset({"success", "failure", "neutral"})  # the ones Prism reports
MAX_ANNOTATIONS = 50  # per request; each update appends (the spec's `output.annotations`)
CHECK_TITLE_CHARS = 255
CHECK_TEXT_CHARS = 65535  # output.summary and output.text

# Per base URL and token (hashed): the login of the identity the token acts as.
_LOGINS: dict[str, str] = {}

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?")
# The reactions GitHub accepts on a comment.
REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


class GitHubClient(Transport):
    def __init__(self, *, login: str = "", **kwargs: Any) -> None:
        """`login`: who the token acts as, when the caller knows it. An App's installation
        token cannot read GET /user; it acts as the App's bot (reviews/github/app.py)."""
        super().__init__(**kwargs)
        self._login = login

    def authenticated_login(self) -> str:
        """https://docs.github.com/rest/users/users#get-the-authenticated-user

        Who Prism is on GitHub, asked once per token per process: an identity never changes.
        """
        if self._login:
            return self._login
        key = hashlib.sha256(f"{self._base_url} {self._token}".encode()).hexdigest()
        if key not in _LOGINS:
            data = json_object(self._request("GET", f"{self._base_url}/user"))
            login = data.get("login")
            if not isinstance(login, str) or not login:
                raise GitHubError("GitHub GET /user answered without a login", permanent=False)
            _LOGINS[key] = login
        return _LOGINS[key]

    # Reading the pull request

    def get_pull_request(self, repo: str, number: int) -> resources.PullRequest:
        """https://docs.github.com/rest/pulls/pulls#get-a-pull-request"""
        data = self._request("GET", self._repo_url(repo, f"pulls/{_id(number)}")).json()
        return resources.pull_request(repo, data)

    def get_diff(self, repo: str, number: int) -> str:
        """https://docs.github.com/rest/pulls/pulls#get-a-pull-request (as a diff).

        See docs/github-facts.md R1.
        """
        url = self._repo_url(repo, f"pulls/{_id(number)}")
        try:
            response = self._request("GET", url, headers={"Accept": DIFF_MEDIA_TYPE})
        except GitHubError as exc:
            if exc.status == 406:
                raise DiffTooLarge(str(exc), status=406, permanent=True) from exc
            raise
        # GitHub may omit the charset; requests would then guess, and diffs are UTF-8 bytes.
        return response.content.decode("utf-8", errors="replace")

    def list_files(self, repo: str, number: int) -> list[dict[str, Any]]:
        """https://docs.github.com/rest/pulls/pulls#list-pull-requests-files"""
        url = self._repo_url(repo, f"pulls/{_id(number)}/files")
        files: list[dict[str, Any]] = []
        for page in self._pages(url):
            files.extend(page)
            if len(files) >= MAX_FILES:
                break
        return files[:MAX_FILES]

    def compare(self, repo: str, base: str, head: str) -> resources.Comparison:
        """https://docs.github.com/rest/commits/commits#compare-two-commits

        Two commit SHAs, `base...head`. Without paging parameters GitHub lists at most 250
        commits and 300 files (the spec's description of the operation);
        `Comparison.truncated` says when the answer may be missing some.
        """
        url = self._repo_url(repo, f"compare/{_sha(base)}...{_sha(head)}")
        return resources.comparison(json_object(self._request("GET", url)))

    # The repository (its policy file, reviews/pipeline/policy.py)

    def get_default_branch(self, repo: str) -> str:
        """https://docs.github.com/rest/repos/repos#get-a-repository"""
        owner, name = owner_name(repo)
        data = json_object(self._request("GET", f"{self._base_url}/repos/{owner}/{name}"))
        branch = data.get("default_branch")
        if not isinstance(branch, str) or not branch:
            raise GitHubError(f"GitHub GET /repos/{repo} named no default branch", permanent=True)
        return branch

    def get_file(
        self, repo: str, path: str, *, ref: str, etag: str = ""
    ) -> resources.RepoFile | resources.NotModified | None:
        """https://docs.github.com/rest/repos/contents#get-repository-content

        The file at `path` on `ref`; None when there is none (404, or not a file). With the
        `etag` of an earlier answer, a conditional request: `NOT_MODIFIED` when the file is
        unchanged, and GitHub does not count a 304 against the rate limit.
        """
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"not a file path in a repository: {path!r}")
        if not ref:
            raise ValueError("a ref is required: the file is read at a named branch")
        headers = {"If-None-Match": etag} if etag else None
        try:
            response = self._request(
                "GET",
                self._repo_url(repo, f"contents/{path}"),
                params={"ref": ref},
                headers=headers,
            )
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise
        if response.status_code == 304:
            return resources.NOT_MODIFIED
        return resources.repo_file(response.json(), response.headers.get("ETag", ""))

    # Conversation comments (every pull request is an issue, docs/github-facts.md C1)

    def list_issue_comments(self, repo: str, number: int) -> Iterator[resources.Comment]:
        """https://docs.github.com/rest/issues/comments#list-issue-comments"""
        url = self._repo_url(repo, f"issues/{_id(number)}/comments")
        # A generator expression, not a generator function, so bad arguments raise right here.
        return (resources.comment(item) for page in self._pages(url) for item in page)

    def create_issue_comment(self, repo: str, number: int, body: str) -> resources.Comment:
        """https://docs.github.com/rest/issues/comments#create-an-issue-comment"""
        url = self._repo_url(repo, f"issues/{_id(number)}/comments")
        return resources.comment(self._request("POST", url, json={"body": _body(body)}).json())

    def update_issue_comment(self, repo: str, comment_id: int, body: str) -> resources.Comment:
        """https://docs.github.com/rest/issues/comments#update-an-issue-comment"""
        url = self._repo_url(repo, f"issues/comments/{_id(comment_id)}")
        return resources.comment(self._request("PATCH", url, json={"body": _body(body)}).json())

    # Commands: acknowledging them, who may run them, answering in a review thread

    def add_reaction(
        self, repo: str, comment_id: int, content: str, *, review_comment: bool
    ) -> None:
        """https://docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue-comment
        https://docs.github.com/rest/reactions/reactions#create-reaction-for-a-pull-request-review-comment

        GitHub answers 200 when the reaction was there already: adding one is idempotent.
        """
        if content not in REACTIONS:
            raise ValueError(f"reaction must be one of {sorted(REACTIONS)}, not {content!r}")
        kind = "pulls" if review_comment else "issues"
        url = self._repo_url(repo, f"{kind}/comments/{_id(comment_id)}/reactions")
        self._request("POST", url, json={"content": content})

    def collaborator_role(self, repo: str, username: str) -> str:
        """https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user

        The user's role on the repository (`admin`, `maintain`, `write`, `triage`, `read`),
        "" when GitHub knows no such collaborator (404).
        """
        if not _LOGIN.fullmatch(username or ""):
            raise ValueError(f"not a GitHub login: {username!r}")
        url = self._repo_url(repo, f"collaborators/{username}/permission")
        try:
            data = json_object(self._request("GET", url))
        except GitHubError as exc:
            if exc.status == 404:
                return ""
            raise
        role = data.get("role_name") or data.get("permission") or ""
        return role if isinstance(role, str) else ""

    def reply_to_review_comment(
        self, repo: str, number: int, comment_id: int, body: str
    ) -> resources.ReviewComment:
        """https://docs.github.com/rest/pulls/comments#create-a-reply-for-a-review-comment

        `comment_id` must be the thread's first comment: GitHub takes no reply to a reply.
        """
        url = self._repo_url(repo, f"pulls/{_id(number)}/comments/{_id(comment_id)}/replies")
        data = self._request("POST", url, json={"body": _body(body)}).json()
        return resources.review_comment(data)

    # Reviews and statuses

    def list_review_comments(self, repo: str, number: int) -> Iterator[resources.ReviewComment]:
        """https://docs.github.com/rest/pulls/comments#list-review-comments-on-a-pull-request"""
        url = self._repo_url(repo, f"pulls/{_id(number)}/comments")
        return (resources.review_comment(item) for page in self._pages(url) for item in page)

    def list_review_comment_reactions(
        self, repo: str, comment_id: int
    ) -> Iterator[resources.Reaction]:
        """https://docs.github.com/rest/reactions/reactions#list-reactions-for-a-pull-request-review-comment

        Every reaction on one inline comment, page after page (docs/github-facts.md R3, R4).
        """
        url = self._repo_url(repo, f"pulls/comments/{_id(comment_id)}/reactions")
        return (resources.reaction(item) for page in self._pages(url) for item in page)

    def create_review(
        self,
        repo: str,
        number: int,
        *,
        commit_id: str,
        body: str,
        comments: list[dict[str, Any]],
    ) -> int:
        """https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request"""
        url = self._repo_url(repo, f"pulls/{_id(number)}/reviews")
        payload = {
            "commit_id": _sha(commit_id),
            "body": _body(body),
            "event": REVIEW_EVENT,
            "comments": [_inline_comment(item) for item in comments],
        }
        return int(self._request("POST", url, json=payload).json()["id"])

    def create_commit_status(
        self,
        repo: str,
        sha: str,
        *,
        state: str,
        description: str,
        context: str = "prism/review",
        target_url: str | None = None,
        best_effort: bool = False,
    ) -> None:
        """https://docs.github.com/rest/commits/statuses#create-a-commit-status

        `best_effort`: posted only if this token's next write slot is near (a pending status
        is not worth delaying a review for); else RateLimited.
        """
        if state not in STATUS_STATES:
            raise ValueError(f"state must be one of {sorted(STATUS_STATES)}, not {state!r}")
        if len(description) > STATUS_DESCRIPTION_CHARS:
            description = description[: STATUS_DESCRIPTION_CHARS - 1] + "…"
        payload = {"state": state, "description": description, "context": context}
        if target_url is not None:
            payload["target_url"] = target_url
        self._request(
            "POST",
            self._repo_url(repo, f"statuses/{_sha(sha)}"),
            json=payload,
            best_effort=best_effort,
        )

    # Check runs (a GitHub App only, docs/github-facts.md C6)

    def create_check_run(
        self,
        repo: str,
        *,
        name: str,
        head_sha: str,
        external_id: str,
        details_url: str = "",
        output: dict[str, Any] | None = None,
        conclusion: str = "",
        actions: list[dict[str, str]] | None = None,
    ) -> int:
        """https://docs.github.com/rest/checks/runs#create-a-check-run

        In progress, or already completed when a `conclusion` is given (a head Prism decided
        not to review before it started). Returns the check run's id.
        """
        payload: dict[str, Any] = {
            "name": name,
            "head_sha": _sha(head_sha),
            "external_id": external_id,
            "status": "in_progress",
        }
        if details_url:
            payload["details_url"] = details_url
        if conclusion:
            payload.update(status="completed", conclusion=_conclusion(conclusion))
        if output is not None:
            payload["output"] = _check_output(output)
        if actions:
            payload["actions"] = actions
        data = json_object(self._request("POST", self._repo_url(repo, "check-runs"), json=payload))
        check_run_id = data.get("id")
        if isinstance(check_run_id, bool) or not isinstance(check_run_id, int):
            raise GitHubError("GitHub created a check run without an id", permanent=False)
        return check_run_id

    def update_check_run(
        self,
        repo: str,
        check_run_id: int,
        *,
        conclusion: str = "",
        output: dict[str, Any] | None = None,
        actions: list[dict[str, str]] | None = None,
    ) -> None:
        """https://docs.github.com/rest/checks/runs#update-a-check-run

        With a `conclusion` the run completes. At most MAX_ANNOTATIONS annotations per call;
        GitHub appends each call's annotations to those already there.
        """
        payload: dict[str, Any] = {}
        if conclusion:
            payload.update(status="completed", conclusion=_conclusion(conclusion))
        if output is not None:
            payload["output"] = _check_output(output)
        if actions:
            payload["actions"] = actions
        url = self._repo_url(repo, f"check-runs/{_id(check_run_id)}")
        self._request("PATCH", url, json=payload)

    # Review threads, over GraphQL (documents and parsing in reviews/github/graphql.py)

    def review_threads(self, repo: str, number: int) -> list[resources.ReviewThread]:
        """https://docs.github.com/graphql/reference/objects#pullrequestreviewthread

        Every thread of the pull request, page after page by `endCursor`:
        https://docs.github.com/graphql/guides/using-pagination-in-the-graphql-api
        """
        owner, name = owner_name(repo)
        threads: list[resources.ReviewThread] = []
        cursor: str | None = None
        while True:
            variables = {"owner": owner, "name": name, "number": _id(number), "cursor": cursor}
            page, cursor = graphql.review_threads_page(
                self._graphql(graphql.REVIEW_THREADS, variables)
            )
            threads.extend(page)
            if cursor is None:
                return threads

    def resolve_review_thread(self, thread_id: str) -> None:
        """https://docs.github.com/graphql/reference/mutations#resolvereviewthread"""
        if not thread_id:
            raise ValueError("a review thread's node ID is required")
        self._graphql(graphql.RESOLVE_REVIEW_THREAD, {"threadId": thread_id})


def _id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive integer id, not {value!r}")
    return value


def _sha(value: str) -> str:
    if not _SHA.fullmatch(value):
        raise ValueError(f"expected a hex commit SHA, not {value!r}")
    return value


def _conclusion(value: str) -> str:
    if value not in CHECK_CONCLUSIONS:
        raise ValueError(f"conclusion must be one of {sorted(CHECK_CONCLUSIONS)}, not {value!r}")
    return value


def _check_output(output: dict[str, Any]) -> dict[str, Any]:
    """A check run's output inside GitHub's limits: a title, texts of at most 65,535
    characters (shortened, never refused: they are the review's summary), 50 annotations."""
    annotations = output.get("annotations") or []
    if len(annotations) > MAX_ANNOTATIONS:
        raise ValueError(f"{len(annotations)} annotations; GitHub takes {MAX_ANNOTATIONS} a call")
    shaped: dict[str, Any] = {"title": _shorten(str(output["title"]), CHECK_TITLE_CHARS)}
    shaped["summary"] = _shorten(str(output.get("summary") or ""), CHECK_TEXT_CHARS)
    if output.get("text"):
        shaped["text"] = _shorten(str(output["text"]), CHECK_TEXT_CHARS)
    if annotations:
        shaped["annotations"] = annotations
    return shaped


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _body(value: str) -> str:
    if len(value) > MAX_COMMENT_CHARS:
        raise ValueError(f"body has {len(value)} characters; GitHub accepts {MAX_COMMENT_CHARS}")
    return value


def _inline_comment(item: dict[str, Any]) -> dict[str, Any]:
    """Only the line-based fields: `position` is closing down (docs/github-facts.md C3)."""
    comment = {
        "path": item["path"],
        "line": item["line"],
        "side": item["side"],
        "body": _body(item["body"]),
    }
    for key in ("start_line", "start_side"):
        if item.get(key) is not None:
            comment[key] = item[key]
    return comment
