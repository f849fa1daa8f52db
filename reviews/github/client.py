"""GitHub REST client: one Session, timeouts, typed results, GitHubError(permanent=...).

No Django imports: the caller passes base URL, token and timeouts from settings.
The rules it follows are in docs/github-facts.md (R1-R4, C1-C5, L1-L4).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from reviews.github import graphql, resources

# Callers import DiffTooLarge and GitHubError from here.
from reviews.github.errors import (
    DiffTooLarge,
    GitHubError,
    error_details,
    error_message,
    json_object,
)
from reviews.github.resources import MAX_COMMENT_CHARS

logger = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
USER_AGENT = "Prism-Review-Bot (+https://github.com/prism-review)"
JSON_MEDIA_TYPE = "application/vnd.github+json"
DIFF_MEDIA_TYPE = "application/vnd.github.diff"

PER_PAGE = 100  # the documented maximum for per_page (docs/github-facts.md R3)
MAX_FILES = 3000  # list_files never returns more than this (docs/github-facts.md R3)
STATUS_DESCRIPTION_CHARS = 140  # GitHub rejects longer commit status descriptions
REVIEW_EVENT = "COMMENT"  # Prism never approves nor requests changes
STATUS_STATES = frozenset({"error", "failure", "pending", "success"})

CONNECT_TIMEOUT = 5.0
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
TRANSIENT_RETRIES = 3
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
RATE_LIMIT_RETRIES = 2
# "wait at least one minute" when GitHub says nothing (docs/github-facts.md L2)
RATE_LIMIT_DEFAULT_WAIT = 60.0
MAX_ERROR_TEXT = 500

# Per base URL and token (hashed): the login of the identity the token acts as.
_LOGINS: dict[str, str] = {}

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class GitHubClient:
    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout: float = 20.0,
        max_wait: float = 10.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL, e.g. https://api.github.com")
        if not token:
            raise ValueError("a GitHub token is required")
        self._base_url = base_url.rstrip("/")
        self._graphql_url = graphql.endpoint(self._base_url)
        self._token = token
        self._timeout = (min(CONNECT_TIMEOUT, timeout), timeout)
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._session = session or requests.Session()
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": JSON_MEDIA_TYPE,
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
            }
        )

    def __repr__(self) -> str:
        return f"GitHubClient(base_url={self._base_url!r})"

    def authenticated_login(self) -> str:
        """https://docs.github.com/rest/users/users#get-the-authenticated-user

        Who Prism is on GitHub, asked once per token per process: an identity never changes.
        """
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
        owner, name = _owner_name(repo)
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

    # Reviews and statuses

    def list_review_comments(self, repo: str, number: int) -> Iterator[resources.ReviewComment]:
        """https://docs.github.com/rest/pulls/comments#list-review-comments-on-a-pull-request"""
        url = self._repo_url(repo, f"pulls/{_id(number)}/comments")
        return (resources.review_comment(item) for page in self._pages(url) for item in page)

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
    ) -> None:
        """https://docs.github.com/rest/commits/statuses#create-a-commit-status"""
        if state not in STATUS_STATES:
            raise ValueError(f"state must be one of {sorted(STATUS_STATES)}, not {state!r}")
        if len(description) > STATUS_DESCRIPTION_CHARS:
            description = description[: STATUS_DESCRIPTION_CHARS - 1] + "…"
        payload = {"state": state, "description": description, "context": context}
        if target_url is not None:
            payload["target_url"] = target_url
        self._request("POST", self._repo_url(repo, f"statuses/{_sha(sha)}"), json=payload)

    # Review threads, over GraphQL (documents and parsing in reviews/github/graphql.py)

    def review_threads(self, repo: str, number: int) -> list[resources.ReviewThread]:
        """https://docs.github.com/graphql/reference/objects#pullrequestreviewthread

        Every thread of the pull request, page after page by `endCursor`:
        https://docs.github.com/graphql/guides/using-pagination-in-the-graphql-api
        """
        owner, name = _owner_name(repo)
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

    # Transport

    def _graphql(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """https://docs.github.com/graphql/guides/forming-calls-with-graphql#communicating-with-graphql"""
        payload = {"query": document, "variables": variables}
        return graphql.data(
            json_object(self._request("POST", self._graphql_url, json=payload)), document
        )

    def _repo_url(self, repo: str, rest: str) -> str:
        owner, name = _owner_name(repo)
        return f"{self._base_url}/repos/{owner}/{name}/{rest}"

    def _pages(self, url: str) -> Iterator[list[dict[str, Any]]]:
        """Follow Link rel="next" as given; GitHub says not to build page URLs.

        See docs/github-facts.md R4.
        """
        next_url: str | None = url
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        while next_url:
            response = self._request("GET", next_url, params=params)
            yield response.json()
            params = None  # the next link already carries per_page and page
            next_url = response.links.get("next", {}).get("url")
            # The Authorization header goes with every request: only follow links to our host.
            if next_url and not next_url.startswith(self._base_url + "/"):
                raise GitHubError(
                    f"refusing to follow a pagination link off {self._base_url}",
                    permanent=True,
                )

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        path = url.removeprefix(self._base_url).split("?")[0]
        failures = rate_limited = 0
        while True:
            response = self._attempt(method, url, path, params, json, headers)
            if isinstance(response, GitHubError):
                if failures >= TRANSIENT_RETRIES:
                    raise response
                failures += 1
                # Full jitter keeps many workers from retrying in lockstep after an outage.
                delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1)))
                logger.warning("github transient failure, retrying in %.1fs: %s", delay, response)
                self._sleep(delay)
                continue
            # GraphQL answers its rate limit with a 200 (see graphql.RATE_LIMIT_TYPES).
            limited = url == self._graphql_url and graphql.rate_limited(json_object(response))
            if response.ok and not limited:
                return response
            wait = self._rate_limit_wait(response)
            if wait is None:
                raise self._error(method, path, response, permanent=True)
            if wait > self._max_wait or rate_limited >= RATE_LIMIT_RETRIES:
                # Too long to hold a worker: the task retries with this countdown instead.
                raise self._error(method, path, response, permanent=False, retry_after=wait)
            rate_limited += 1
            logger.warning("github rate limited on %s %s, waiting %.0fs", method, path, wait)
            self._sleep(wait)

    def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> requests.Response | GitHubError:
        """One request: the response, or the transient error worth another try."""
        try:
            response = self._session.request(
                method, url, params=params, json=json, headers=headers, timeout=self._timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            error = GitHubError(
                f"GitHub {method} {path} failed: {type(exc).__name__}", permanent=False
            )
            error.__cause__ = exc
            return error
        if response.status_code in TRANSIENT_STATUSES:
            return self._error(method, path, response, permanent=False)
        return response

    def _rate_limit_wait(self, response: requests.Response) -> float | None:
        """Seconds GitHub asks us to wait, or None when this is not a rate limit.

        See docs/github-facts.md L2.
        """
        if response.status_code not in (403, 429) and not response.ok:
            return None
        retry_after = _number(response.headers.get("retry-after"))
        # A 200 here is a GraphQL rate limit, whose remaining count need not read 0.
        exhausted = response.headers.get("x-ratelimit-remaining") == "0" or response.ok
        # A 403 without these signs is a permission problem; retrying cannot help.
        if (
            response.status_code == 403
            and retry_after is None
            and not exhausted
            and "rate limit" not in error_message(response).lower()
        ):
            return None
        if retry_after is not None:
            return max(retry_after, 0.0)
        reset = _number(response.headers.get("x-ratelimit-reset"))
        if exhausted and reset is not None:
            return max(reset - self._clock(), 0.0)
        return RATE_LIMIT_DEFAULT_WAIT

    def _error(
        self,
        method: str,
        path: str,
        response: requests.Response,
        *,
        permanent: bool,
        retry_after: float | None = None,
    ) -> GitHubError:
        text = f"GitHub {method} {path} returned {response.status_code}: {error_message(response)}"
        errors = error_details(response)
        if errors:
            text += f" ({errors})"
        # GitHub has no reason to echo the token, but an exception text must never hold it.
        text = text.replace(self._token, "[token]")[:MAX_ERROR_TEXT]
        return GitHubError(
            text, status=response.status_code, permanent=permanent, retry_after=retry_after
        )


def _owner_name(repo: str) -> tuple[str, str]:
    owner, _, name = repo.partition("/")
    if not all(_NAME.fullmatch(part) and part.strip(".") for part in (owner, name)):
        raise ValueError(f"repo must look like 'owner/name', not {repo!r}")
    return owner, name


def _id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive integer id, not {value!r}")
    return value


def _sha(value: str) -> str:
    if not _SHA.fullmatch(value):
        raise ValueError(f"expected a hex commit SHA, not {value!r}")
    return value


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


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
