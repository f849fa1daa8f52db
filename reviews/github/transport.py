"""How Prism talks to GitHub: one Session, timeouts, retries with jittered backoff, rate-limit
waits, pacing of writes, pagination by Link headers, and errors that say whether retrying can
help.

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
from reviews.github import graphql, pacing
from reviews.github.errors import (
    GitHubError,
    RateLimited,
    error_details,
    error_message,
    json_object,
)

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
# Requests that create content (docs/github-facts.md L3); a GraphQL POST only as a mutation.
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# How long a write waits in place for its slot: longer, the work is rescheduled, so a burst's
# writes queue in the broker, not in worker threads that could be reviewing meanwhile.
WRITE_SLOT_WAIT = 3.0
# A best-effort write (a pending status) waits at most this, and leaves half of a busy minute
# to the writes that show results.
BEST_EFFORT_WAIT = 2.0
BEST_EFFORT_KEEP_FREE = 0.5
SECONDARY_LIMIT_TEXT = "secondary rate limit"

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
        pacer: pacing.Pacer | None = None,
        identity: str = "",
    ) -> None:
        """`refresh_token(stale)`: a new token for when GitHub answers 401 with `stale` (an
        App's installation token that expired early or was revoked); asked once per request.
        `max_wait`: the longest a rate limit or a write's slot is waited for in place;
        longer, RateLimited says when to try again. `pacer`: shared pacing of this identity's
        requests (None: none, as in most unit tests). `identity`: whose writes GitHub counts
        (an App installation, whose tokens change hourly); else the token itself."""
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
        self._pacer = pacer
        self._identity = identity or pacing.identity(base_url, token)
        self._identity_kind = "installation" if identity else "token"  # a metrics label
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

    @property
    def identity(self) -> str:
        """Who GitHub counts this client's requests against (a hash of URL and token)."""
        return self._identity

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
        best_effort: bool = False,
    ) -> requests.Response:
        """`best_effort`: a write not worth waiting for; RateLimited unless a slot is near."""
        path = url.removeprefix(self._base_url).split("?")[0]
        write = self._is_write(method, url, json)
        failures = rate_limited = 0
        refreshed = False
        while True:
            self._pace(method, path, write=write, best_effort=best_effort)
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
            self._observe(response)
            if response.ok and not limited:
                return response
            wait = self._rate_limit_wait(response)
            if wait is None:
                raise self._error(method, path, response, permanent=True)
            metrics.observe_rate_limit_wait(self._identity_kind, wait)
            if self._pacer is not None and self._secondary(response):
                # Every process holds this identity's writes until GitHub's wait is over.
                self._pacer.pause(self._identity, wait)
            if wait > self._max_wait or rate_limited >= RATE_LIMIT_RETRIES:
                # Too long to hold a worker: the task retries with this countdown instead.
                raise self._error(method, path, response, permanent=False, retry_after=wait)
            rate_limited += 1
            logger.warning("github rate limited on %s %s, waiting %.0fs", method, path, wait)
            self._sleep(wait)

    def _is_write(self, method: str, url: str, json: dict[str, Any] | None) -> bool:
        if method not in WRITE_METHODS:
            return False
        if url == self._graphql_url:
            return graphql.is_mutation(str((json or {}).get("query", "")))
        return True

    def _pace(self, method: str, path: str, *, write: bool, best_effort: bool) -> None:
        """Wait for this identity's turn (a write slot, the primary limit's reset), or raise
        RateLimited when that is further away than is worth holding a thread for."""
        if self._pacer is None:
            return
        limit = min(self._max_wait, BEST_EFFORT_WAIT if best_effort else WRITE_SLOT_WAIT)
        wait = self._pacer.primary_wait(self._identity, write=write)
        if wait > self._max_wait:
            raise RateLimited(
                f"GitHub {method} {path} held: the token's primary rate limit is nearly spent "
                f"until its reset in {wait:.0f} s",
                retry_after=wait,
            )
        if wait > 0:
            logger.info("github primary limit nearly spent, waiting %.0fs for its reset", wait)
            metrics.observe_rate_limit_wait(self._identity_kind, wait)
            self._sleep(wait)
        if not write:
            return
        keep_free = int(self._pacer.limits.per_minute * BEST_EFFORT_KEEP_FREE) if best_effort else 0
        slot = self._pacer.reserve(self._identity, max_wait=limit, keep_free=keep_free)
        if not slot.granted:
            raise RateLimited(
                f"GitHub {method} {path} held: this token's writes are paced under GitHub's "
                f"secondary limits; the next slot is in {slot.wait:.0f} s",
                retry_after=slot.wait,
            )
        if slot.wait > 0:
            metrics.observe_rate_limit_wait(self._identity_kind, slot.wait)
            self._sleep(slot.wait)

    def _observe(self, response: requests.Response) -> None:
        remaining = _number(response.headers.get("x-ratelimit-remaining"))
        reset = _number(response.headers.get("x-ratelimit-reset"))
        if self._pacer is not None and remaining is not None and reset is not None:
            self._pacer.observe(self._identity, remaining=int(remaining), reset=reset)

    @staticmethod
    def _secondary(response: requests.Response) -> bool:
        """A secondary limit (L2, L3): a retry-after, or GitHub's message naming it."""
        return (
            response.headers.get("retry-after") is not None
            or SECONDARY_LIMIT_TEXT in error_message(response).lower()
        )

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
        if retry_after is not None and not permanent:
            return RateLimited(text, status=response.status_code, retry_after=retry_after)
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
