"""The errors the GitHub client raises, and how it reads what GitHub says went wrong.

`reviews.github.client` re-exports GitHubError and DiffTooLarge; import them from there.
"""

from typing import Any

import requests

from reviews.errors import ServiceError


class GitHubError(ServiceError):
    """A failed GitHub call, with the HTTP status when GitHub answered."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        permanent: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, permanent=permanent, retry_after=retry_after)
        self.status = status


class RateLimited(GitHubError):
    """GitHub's limits for this identity leave no room now: try again after `retry_after`.

    Raised for a 403/429 rate limit whose wait is too long to hold a worker, and before
    sending at all when the identity's writes are paced or its primary budget is spent
    (reviews/github/pacing.py). Never permanent: the work is rescheduled, not failed.
    """

    def __init__(self, message: str, *, retry_after: float, status: int | None = None) -> None:
        super().__init__(message, status=status, permanent=False, retry_after=retry_after)


class DiffTooLarge(GitHubError):
    """GitHub refuses the diff media type for > 300 files or > 20,000 lines.

    See docs/github-facts.md R2.
    """


def json_object(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_message(response: requests.Response) -> str:
    return str(json_object(response).get("message") or response.reason or "")


def error_details(response: requests.Response) -> str:
    """GitHub's 422 `errors` list, which holds the reason (docs/github-facts.md C2, C4)."""
    items = json_object(response).get("errors")
    if not isinstance(items, list):
        return ""
    parts = []
    for item in items:
        if isinstance(item, dict):
            where = ".".join(str(item[k]) for k in ("resource", "field") if item.get(k))
            parts.append(f"{where}: {item.get('message') or item.get('code', '')}".strip(": "))
        else:
            parts.append(str(item))
    return "; ".join(parts)
