"""What Prism reads from GitHub, as small typed objects, and how each is parsed. Pure.

The webhook and the REST client both describe a pull request with `PullRequest`; an
`Analysis` gives back the same shape for the pull request it reviews.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

MAX_COMMENT_CHARS = 65536  # longer comment bodies get a 422 (docs/github-facts.md C2)


@dataclass(frozen=True)
class PullRequest:
    repo_full_name: str
    number: int
    title: str
    html_url: str
    author: str
    head_sha: str
    base_sha: str
    state: str = "open"
    merged: bool = False
    draft: bool = False
    body: str = ""


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    html_url: str
    author: str


@dataclass(frozen=True)
class ReviewComment:
    id: int
    path: str
    line: int | None
    side: str
    body: str
    author: str = ""


def login(data: dict[str, Any]) -> str:
    # Deleted accounts come back as a null user.
    return (data.get("user") or {}).get("login", "")


def pull_request(repo: str, data: dict[str, Any]) -> PullRequest:
    """https://docs.github.com/rest/pulls/pulls#get-a-pull-request"""
    return PullRequest(
        repo_full_name=repo,
        number=data["number"],
        state=data.get("state", ""),
        merged=bool(data.get("merged")),
        draft=bool(data.get("draft")),
        head_sha=data["head"]["sha"],
        base_sha=data["base"]["sha"],
        title=data.get("title") or "",
        body=data.get("body") or "",
        html_url=data.get("html_url", ""),
        author=login(data),
    )


def comment(data: dict[str, Any]) -> Comment:
    return Comment(
        id=data["id"],
        body=data.get("body") or "",
        html_url=data.get("html_url", ""),
        author=login(data),
    )


def review_comment(data: dict[str, Any]) -> ReviewComment:
    return ReviewComment(
        id=data["id"],
        path=data.get("path", ""),
        line=data.get("line"),
        side=data.get("side") or "RIGHT",
        body=data.get("body") or "",
        author=login(data),
    )


def diff_line_url(pr_url: str, path: str, line: int, end_line: int | None = None) -> str:
    """GitHub's link to new-file lines in the pull request's "Files changed" tab."""
    digest = hashlib.sha256(path.encode("utf-8")).hexdigest()
    lines = f"R{line}-R{end_line}" if end_line else f"R{line}"
    return f"{pr_url.rstrip('/')}/files#diff-{digest}{lines}"


@dataclass(frozen=True)
class ThreadComment:
    """One comment of a review thread, as GitHub's GraphQL API gives it."""

    author: str  # spelt as REST spells it ("prism[bot]" for an app); "" for a deleted account
    body: str
    database_id: int | None  # the REST `id` of the comment


@dataclass(frozen=True)
class ReviewThread:
    """A pull request review thread: its first comment opened it, the others replied."""

    id: str  # the node ID `resolveReviewThread` takes (webhooks: `thread.node_id`)
    is_resolved: bool
    is_outdated: bool
    path: str
    line: int | None  # null once the line left the diff
    comments: tuple[ThreadComment, ...]
    # GitHub holds more comments than were fetched: someone may have replied.
    more_comments: bool = False
