"""How Prism talks to GitHub: one Session, timeouts, retries with jittered backoff, rate-limit
waits, pagination by Link headers, and errors that say whether retrying can help.

No Django imports: the caller passes base URL, token and timeouts from settings. The rules
it follows are in docs/github-facts.md (R1-R4, L1-L4). The calls themselves are in client.py.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from reviews import metrics
from reviews.github import graphql
from reviews.github.errors import GitHubError, error_details, error_message, json_object

logger = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
USER_AGENT = "Prism-Review-Bot (+https://github.com/prism-review)"
JSON_MEDIA_TYPE = "application/vnd.github+json"
PER_PAGE = 100  # the documented maximum for per_page (docs/github-facts.md R3)

CONNECT_TIMEOUT = 5.0
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
TRANSIENT_RETRIES = 3
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
RATE_LIMIT_RETRIES = 2
# "wait at least one minute" when GitHub says nothing (docs/github-facts.md L2)
RATE_LIMIT_DEFAULT_WAIT = 60.0
MAX_ERROR_TEXT = 500

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# Endpoint groups for the metrics: a bounded label, never the repository or the number.
_ENDPOINTS = (
    ("reactions", re.compile(r"/repos/[^/]+/[^/]+/.*/reactions(/.*)?")),
    ("pull_files", re.compile(r"/repos/[^/]+/[^/]+/pulls/\d+/files")),
    ("review_comments", re.compile(r"/repos/[^/]+/[^/]+/pulls/\d+/comments")),
    ("reviews", re.compile(r"/repos/[^/]+/[^/]+/pulls/\d+/reviews(/.*)?")),
    ("pull", re.compile(r"/repos/[^/]+/[^/]+/pulls/\d+")),
    ("issue_comments", re.compile(r"/repos/[^/]+/[^/]+/issues/(\d+/)?comments(/.*)?")),
    ("statuses", re.compile(r"/repos/[^/]+/[^/]+/(statuses|commits)/.*")),
    ("check_runs", re.compile(r"/repos/[^/]+/[^/]+/check-(runs|suites)(/.*)?")),
    ("compare", re.compile(r"/repos/[^/]+/[^/]+/compare/.*")),
    ("contents", re.compile(r"/repos/[^/]+/[^/]+/contents(/.*)?")),
    ("repository", re.compile(r"/repos/[^/]+/[^/]+")),
    ("user", re.compile(r"/user")),
    ("app", re.compile(r"/app(/.*)?")),
)


class Transport:
    """The REST and GraphQL transport `GitHubClient` makes its calls through."""

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
        refresh_token: Callable[[str], str] | None = None,
    ) -> None:
        """`refresh_token(stale)`: a new token for when GitHub answers 401 with `stale` (an
        App's installation token that expired early or was revoked); asked once per request."""
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
        self._refresh_token = refresh_token
        self._session = session or requests.Session()
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": JSON_MEDIA_TYPE,
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
            }
        )

    def _use_token(self, token: str) -> None:
        if not token:
            raise ValueError("a GitHub token is required")
        self._token = token
        self._session.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    def _graphql(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """https://docs.github.com/graphql/guides/forming-calls-with-graphql#communicating-with-graphql"""
        payload = {"query": document, "variables": variables}
        return graphql.data(
            json_object(self._request("POST", self._graphql_url, json=payload)), document
        )

    def _repo_url(self, repo: str, rest: str) -> str:
        owner, name = owner_name(repo)
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
        refreshed = False
        while True:
            response = self._attempt(method, url, path, params, json, headers)
            if (
                isinstance(response, requests.Response)
                and response.status_code == 401
                and self._refresh_token is not None
                and not refreshed
            ):
                # Once: a token that fails again straight after being issued is not stale.
                refreshed = True
                logger.info("github answered 401 on %s %s; refreshing the token", method, path)
                self._use_token(self._refresh_token(self._token))
                continue
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
            metrics.observe_rate_limit_wait("token", wait)
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
        started = time.perf_counter()
        answered = "error"
        try:
            response = self._session.request(
                method, url, params=params, json=json, headers=headers, timeout=self._timeout
            )
            answered = str(response.status_code)
        except (requests.ConnectionError, requests.Timeout) as exc:
            error = GitHubError(
                f"GitHub {method} {path} failed: {type(exc).__name__}", permanent=False
            )
            error.__cause__ = exc
            return error
        finally:
            metrics.observe_github_request(
                endpoint="graphql" if url == self._graphql_url else endpoint_group(path),
                method=method,
                status=answered,
                seconds=time.perf_counter() - started,
            )
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


def owner_name(repo: str) -> tuple[str, str]:
    owner, _, name = repo.partition("/")
    if not all(_NAME.fullmatch(part) and part.strip(".") for part in (owner, name)):
        raise ValueError(f"repo must look like 'owner/name', not {repo!r}")
    return owner, name


def endpoint_group(path: str) -> str:
    """The metrics' name for the endpoint of a path below the API's base URL."""
    for name, pattern in _ENDPOINTS:
        if pattern.fullmatch(path):
            return name
    return "other"


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
