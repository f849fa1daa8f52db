"""What Prism reads from GitHub, as small typed objects, and how each is parsed. Pure.

The webhook and the REST client both describe a pull request with `PullRequest`; an
`Analysis` gives back the same shape for the pull request it reviews.
"""

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

MAX_COMMENT_CHARS = 65536  # longer comment bodies get a 422 (docs/github-facts.md C2)
# Compare two commits, without paging parameters, lists at most 250 commits and 300 files
# (the spec's description of repos/compare-commits-with-basehead): a comparison at
# either cap may be missing some of them.
MAX_COMPARE_COMMITS = 250
MAX_COMPARE_FILES = 300
COMPARE_STATUSES = ("ahead", "behind", "diverged", "identical")


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
    base_ref: str = ""  # the branch the pull request merges into
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RepoFile:
    """A file of the repository at a ref, from the contents API.

    `sha` is the blob's SHA (the same content has the same SHA at any commit); `etag` is what
    to send as If-None-Match to ask again cheaply; `content` is empty when GitHub did not
    send it (a file over 1 MB: compare `size`).
    """

    path: str
    sha: str
    size: int
    content: bytes
    etag: str = ""


class NotModified:
    """The contents API answered 304: the file is the one whose ETag was sent."""


NOT_MODIFIED = NotModified()


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


@dataclass(frozen=True)
class Reaction:
    """One person's (or bot's) reaction on a comment: `+1`, `-1`, `laugh`, `confused`, `heart`,
    `hooray`, `rocket` or `eyes`."""

    content: str
    user: str  # "" for a deleted account
    user_type: str  # "User", "Bot" or "Organization"; "" when GitHub sent no user


@dataclass(frozen=True)
class ComparedFile:
    """One file of a comparison; `patch` is None when GitHub sent no diff for it."""

    filename: str
    status: str  # GitHub's words: added, removed, modified, renamed, copied, changed, unchanged
    patch: str | None = None
    previous_filename: str | None = None
    additions: int = 0
    deletions: int = 0

    @property
    def patch_missing(self) -> bool:
        """Changed lines GitHub counted but did not show (too large); binary files count none."""
        return self.patch is None and self.additions + self.deletions > 0


@dataclass(frozen=True)
class Comparison:
    """GET /repos/{o}/{r}/compare/{base}...{head}: how head relates to base, and what changed.

    `status` is "ahead" when head only adds commits on top of base (a fast-forward), "behind"
    or "diverged" when base is not an ancestor of head (history rewritten), "identical".
    `files` is None when GitHub sent no file list.
    """

    status: str
    ahead_by: int
    behind_by: int
    total_commits: int
    commits: tuple[str, ...]
    files: tuple[ComparedFile, ...] | None

    @property
    def truncated(self) -> bool:
        """GitHub may have left commits or files out: the comparison hit one of its caps."""
        return (
            len(self.commits) < self.total_commits
            or len(self.commits) >= MAX_COMPARE_COMMITS
            or self.files is None
            or len(self.files) >= MAX_COMPARE_FILES
        )


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
        base_ref=str((data.get("base") or {}).get("ref") or ""),
        labels=tuple(
            str(label["name"])
            for label in data.get("labels") or ()
            if isinstance(label, dict) and label.get("name")
        ),
    )


def repo_file(data: Any, etag: str = "") -> RepoFile | None:
    """https://docs.github.com/rest/repos/contents#get-repository-content

    None for anything but a file (a directory lists its entries; a symlink or a submodule
    names its target): there is no file to read at that path.
    """
    if not isinstance(data, dict) or data.get("type") != "file":
        return None
    raw = data.get("content") or ""
    content = base64.b64decode(raw) if data.get("encoding") == "base64" else b""
    return RepoFile(
        path=str(data.get("path") or ""),
        sha=str(data["sha"]),
        size=int(data.get("size") or 0),
        content=content,
        etag=etag,
    )


def comparison(data: dict[str, Any]) -> Comparison:
    """https://docs.github.com/rest/commits/commits#compare-two-commits"""
    files = data.get("files")
    return Comparison(
        status=str(data.get("status") or ""),
        ahead_by=int(data.get("ahead_by") or 0),
        behind_by=int(data.get("behind_by") or 0),
        total_commits=int(data.get("total_commits") or 0),
        commits=tuple(commit["sha"] for commit in data.get("commits") or ()),
        files=None if not isinstance(files, list) else tuple(map(compared_file, files)),
    )


def compared_file(data: dict[str, Any]) -> ComparedFile:
    patch = data.get("patch")
    return ComparedFile(
        filename=data["filename"],
        status=data.get("status") or "modified",
        patch=patch if isinstance(patch, str) else None,
        previous_filename=data.get("previous_filename") or None,
        additions=int(data.get("additions") or 0),
        deletions=int(data.get("deletions") or 0),
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


def reaction(data: dict[str, Any]) -> Reaction:
    user = data.get("user") or {}
    return Reaction(
        content=str(data.get("content") or ""),
        user=str(user.get("login") or ""),
        user_type=str(user.get("type") or ""),
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
