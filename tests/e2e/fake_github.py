"""A stand-in for the GitHub REST API that Prism talks to, with GitHub's rules.

The rules are in docs/github-facts.md.

A plain ThreadingHTTPServer on 127.0.0.1 in a thread of the test process. It serves pull
requests built from real diffs, records every request, enforces what GitHub enforces (the
token, 65,536-character bodies, review comments inside the diff, the 406 on huge diffs) and
fails on demand from a queue of planned answers.

Each head a pull request had is a commit whose tree is known only as the pull request's diff
against its base. A push adds a commit on top of the head; a force-push starts again from the
base. The comparison of two commits (GET .../compare/{base}...{head}) follows that history
and computes each file's patch from the two diffs where they say exactly what the file holds:
a file changed in only one of them, or added in both. Where they do not (a file modified in
both, differently) the file comes without a patch, as GitHub sends a file it will not diff.
"""

import base64
import difflib
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.e2e.local_server import LocalServer, respond

MAX_COMMENT_CHARS = 65536
MAX_DIFF_FILES = 300
MAX_DIFF_LINES = 20_000
DEFAULT_PER_PAGE = 30

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
# Who the token acts as: the author of every comment Prism posts here.
BOT_LOGIN = "prism-bot"
_ROUTES = [
    ("GET", re.compile(r"/user"), "user"),
    ("POST", re.compile(r"/graphql"), "graphql"),
    ("GET", re.compile(r"/repos/([^/]+/[^/]+)/compare/([^/.]+)\.\.\.([^/.]+)"), "compare"),
    ("GET", re.compile(r"/repos/([^/]+/[^/]+)"), "repository"),
    ("GET", re.compile(r"/repos/([^/]+/[^/]+)/contents/(.+)"), "contents"),
    ("GET", re.compile(r"/repos/([^/]+/[^/]+)/pulls/(\d+)"), "pull"),
    ("GET", re.compile(r"/repos/([^/]+/[^/]+)/pulls/(\d+)/files"), "files"),
    ("GET", re.compile(r"/repos/([^/]+/[^/]+)/pulls/(\d+)/comments"), "review_comments"),
    ("POST", re.compile(r"/repos/([^/]+/[^/]+)/pulls/(\d+)/reviews"), "create_review"),
    ("GET", re.compile(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments"), "issue_comments"),
    ("POST", re.compile(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments"), "create_comment"),
    ("PATCH", re.compile(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)"), "update_comment"),
    ("POST", re.compile(r"/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{40})"), "create_status"),
    ("POST", re.compile(r"/repos/([^/]+/[^/]+)/(issues|pulls)/comments/(\d+)/reactions"), "react"),
    ("GET", re.compile(r"/repos/([^/]+/[^/]+)/collaborators/([^/]+)/permission"), "permission"),
    ("POST", re.compile(r"/repos/([^/]+/[^/]+)/pulls/(\d+)/comments/(\d+)/replies"), "reply"),
    ("POST", re.compile(r"/repos/([^/]+/[^/]+)/check-runs"), "create_check_run"),
    ("PATCH", re.compile(r"/repos/([^/]+/[^/]+)/check-runs/(\d+)"), "update_check_run"),
    ("GET", re.compile(r"/repos/([^/]+/[^/]+)/pulls/comments/(\d+)/reactions"), "reactions"),
]
REACTIONS = {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}
# Check runs, as GitHub's REST description has them (docs/github-facts.md C6).
MAX_ANNOTATIONS = 50
CONCLUSIONS = {"action_required", "cancelled", "failure", "neutral", "success", "skipped",
               "timed_out"}  # fmt: skip
ANNOTATION_LEVELS = {"notice", "warning", "failure"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.monotonic)  # when it arrived

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def creates_content(self) -> bool:
        """What GitHub's secondary limit counts (docs/github-facts.md L3): a REST write, or
        a GraphQL mutation."""
        if self.method not in {"POST", "PATCH", "PUT", "DELETE"}:
            return False
        if self.path == "/graphql":
            return str(self.json().get("query", "")).lstrip().startswith("mutation")
        return True

    @property
    def identity(self) -> str:
        """Who GitHub counts the request against: its token, hashed."""
        token = self.headers.get("authorization", "")
        return hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass
class Fault:
    """A planned answer, used once by the first request it matches."""

    method: str
    path: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    accept: str | None  # only requests asking for this media type


@dataclass
class FileEntry:
    path: str
    previous: str | None
    status: str
    patch: str | None
    additions: int
    deletions: int
    right_ranges: list[tuple[int, int]]


@dataclass
class Commit:
    """A head a pull request had: its parent, and the pull request's diff at it."""

    sha: str
    parent: str | None  # None for the base commit
    diff: str  # against the pull request's base ("" for the base itself)
    message: str = ""


@dataclass
class PullRequest:
    repo: str
    number: int
    head_sha: str
    base_sha: str
    diff: str
    title: str
    body: str
    state: str = "open"
    files: list[FileEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.files = parse_files(self.diff)


def parse_files(diff: str) -> list[FileEntry]:
    """The diff split per file, as GET .../pulls/{n}/files describes each one.

    See docs/github-facts.md R3.
    """
    entries = []
    for section in re.split(r"(?m)^(?=diff --git )", diff):
        if not section.startswith("diff --git "):
            continue
        lines = section.splitlines()
        old = new = None
        first_hunk = next((i for i, line in enumerate(lines) if line.startswith("@@")), None)
        header = re.match(r"diff --git a/(.+) b/(.+)", lines[0])
        if header:
            old, new = header[1], header[2]
        # Only the file header: a removed line "-- x" inside a hunk reads like "--- ".
        for line in lines[:first_hunk]:
            if line.startswith("--- "):
                old = None if line == "--- /dev/null" else line[6:]
            elif line.startswith("+++ "):
                new = None if line == "+++ /dev/null" else line[6:]
            elif line.startswith("rename from "):
                old = line[len("rename from ") :]
            elif line.startswith("rename to "):
                new = line[len("rename to ") :]
        body = lines[first_hunk:] if first_hunk is not None else []
        ranges = []
        for line in body:
            match = _HUNK.match(line)
            if match:
                start, count = int(match[1]), int(match[2] if match[2] is not None else 1)
                if count:
                    ranges.append((start, start + count - 1))
        status = "modified"
        if old is None:
            status = "added"
        elif new is None:
            status = "removed"
        elif old != new:
            status = "renamed"
        entries.append(
            FileEntry(
                path=new or old or "",
                previous=old if status == "renamed" else None,
                status=status,
                patch="\n".join(body) if body else None,
                additions=sum(1 for x in body if x.startswith("+")),
                deletions=sum(1 for x in body if x.startswith("-")),
                right_ranges=ranges,
            )
        )
    return entries


class FakeGitHub(LocalServer):
    # Only a GitHub App may create check runs; a personal token gets GitHub's 403.
    serves_check_runs = False

    def __init__(self, token: str) -> None:
        self.token = token
        self.bot_login = BOT_LOGIN  # who Prism's comments are by
        self.lock = threading.Lock()
        self.pulls: dict[tuple[str, int], PullRequest] = {}
        # Each repository's files on its default branch ("main"): its policy file, if any.
        self.default_files: dict[tuple[str, str], str] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.review_comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.resolved_threads: set[str] = set()
        # People's reactions on review comments, by comment id (what a feedback read finds).
        self.reactions: dict[int, list[dict[str, Any]]] = {}
        # (repo, "issues" or "pulls", comment id) -> the reactions Prism added, in order.
        self.added_reactions: dict[tuple[str, str, int], list[str]] = {}
        # (repo, login) -> the role GitHub reports; anyone else is no collaborator (404).
        self.roles: dict[tuple[str, str], str] = {}
        self.commits: dict[tuple[str, str], Commit] = {}  # (repo, sha)
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self._ids = itertools.count(10_001)
        self._listen(_handler(self))

    # --- setting the scene ------------------------------------------------------------------

    def open_pull(
        self, repo: str, number: int, *, head_sha: str, diff: str, title: str, body: str = ""
    ) -> PullRequest:
        pull = PullRequest(repo, number, head_sha, "b" * 40, diff, title, body)
        with self.lock:
            self.pulls[repo, number] = pull
            self.commits.setdefault((repo, pull.base_sha), Commit(pull.base_sha, None, ""))
            self.commits[repo, head_sha] = Commit(head_sha, pull.base_sha, diff, "Opened")
        return pull

    def push(self, repo: str, number: int, *, head_sha: str, diff: str | None = None) -> None:
        """A commit on top of the head (the diff as it stands then); the head itself, again,
        with a new diff, amends it."""
        with self.lock:
            pull = self.pulls[repo, number]
            self._move_head(pull, head_sha, diff, parent=pull.head_sha, message="Push")

    def force_push(self, repo: str, number: int, *, head_sha: str, diff: str) -> None:
        """History rewritten: the new head is a commit on the base, not on the old head."""
        with self.lock:
            pull = self.pulls[repo, number]
            self._move_head(pull, head_sha, diff, parent=pull.base_sha, message="Rewritten")

    def _move_head(
        self, pull: PullRequest, head_sha: str, diff: str | None, *, parent: str, message: str
    ) -> None:
        diff = pull.diff if diff is None else diff
        known = self.commits.get((pull.repo, head_sha))
        if known is not None:  # the head again (amended), or back to an earlier commit
            known.diff = diff
        else:
            self.commits[pull.repo, head_sha] = Commit(head_sha, parent, diff, message)
        pull.head_sha = head_sha
        pull.diff, pull.files = diff, parse_files(diff)

    def reply_to_review_comment(
        self, repo: str, number: int, comment_id: int, body: str, *, login: str
    ) -> int:
        """Someone answers in a review thread: a reply to its first comment."""
        with self.lock:
            stored = self.review_comments[repo, number]
            root = next(c for c in stored if c["id"] == comment_id)
            reply_id = next(self._ids)
            stored.append(
                {
                    "id": reply_id,
                    "in_reply_to_id": root.get("in_reply_to_id") or root["id"],
                    "path": root.get("path"),
                    "line": root.get("line"),
                    "side": root.get("side", "RIGHT"),
                    "body": body,
                    "user": {"login": login},
                }
            )
        return reply_id

    def plant_comment(self, repo: str, number: int, body: str, *, login: str) -> int:
        """A conversation comment someone else wrote (a PR author, say)."""
        with self.lock:
            comment_id = next(self._ids)
            self.comments[comment_id] = {
                "id": comment_id,
                "repo": repo,
                "number": number,
                "body": body,
                "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{comment_id}",
                "user": {"login": login},
            }
        return comment_id

    def plant_review_comment(self, repo: str, number: int, comment: dict[str, Any]) -> None:
        """A review comment someone else wrote on the diff."""
        with self.lock:
            stored = self.review_comments.setdefault((repo, number), [])
            stored.append({"id": next(self._ids), **comment})

    def react(self, comment_id: int, content: str, *, login: str, user_type: str = "User") -> None:
        """Someone reacts to a review comment (`+1`, `-1`, `heart`…); a bot has type "Bot"."""
        with self.lock:
            stored = self.reactions.setdefault(comment_id, [])
            stored.append(
                {
                    "id": next(self._ids),
                    "content": content,
                    "user": {"login": login, "type": user_type},
                    "created_at": "2026-01-01T00:00:00Z",
                }
            )

    def unreact(self, comment_id: int, content: str, *, login: str) -> None:
        """Someone takes a reaction back."""
        with self.lock:
            self.reactions[comment_id] = [
                r
                for r in self.reactions.get(comment_id, [])
                if (r["content"], r["user"]["login"]) != (content, login)
            ]

    def close_pull(self, repo: str, number: int) -> None:
        with self.lock:
            self.pulls[repo, number].state = "closed"

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        message: str = "",
        headers: dict[str, str] | None = None,
        accept: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests matching `path` (a regex) with `status`."""
        fault = Fault(
            method,
            re.compile(path),
            status,
            {"message": message or "planned failure"},
            headers or {},
            accept,
        )
        with self.lock:
            self.faults.extend([fault] * times)

    # --- reading what happened --------------------------------------------------------------

    def calls(self, method: str, path_regex: str) -> list[Request]:
        pattern = re.compile(path_regex)
        with self.lock:
            return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    def comment_posts(self, repo: str, number: int) -> list[Request]:
        return self.calls("POST", rf"/repos/{re.escape(repo)}/issues/{number}/comments")

    def comment_patches(self, repo: str) -> list[Request]:
        return self.calls("PATCH", rf"/repos/{re.escape(repo)}/issues/comments/\d+")

    def issue_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.comments.values() if (c["repo"], c["number"]) == (repo, number)]

    def statuses(self, repo: str, sha: str | None = None) -> list[str]:
        """The states posted for the commit (or for every commit of `repo`), in order."""
        sha_part = sha or "[0-9a-f]{40}"
        calls = self.calls("POST", rf"/repos/{re.escape(repo)}/statuses/{sha_part}")
        return [c.json()["state"] for c in calls if c.status < 300]

    def runs(self, repo: str, sha: str | None = None) -> list[dict[str, Any]]:
        """The check runs created on `repo` (on commit `sha`), oldest first, as they stand."""
        with self.lock:
            return [
                json.loads(json.dumps(run))
                for run in self.check_runs.values()
                if run["repo"] == repo and (sha is None or run["head_sha"] == sha)
            ]

    def sent_bodies(self, repo: str | None = None) -> list[str]:
        """Every request body Prism sent (to `repo`, or anywhere), as text."""
        prefix = f"/repos/{repo}/" if repo else "/"
        with self.lock:
            return [
                r.body.decode("utf-8", "replace")
                for r in self.requests
                if r.body and r.path.startswith(prefix)
            ]

    def max_writes_in_window(self, window: float = 60.0, since: float = 0.0) -> dict[str, int]:
        """Per identity, the most content-creating requests that arrived in any `window`
        seconds (from `since`, a time.monotonic()), as GitHub's secondary limit counts them."""
        with self.lock:
            writes = [r for r in self.requests if r.at >= since and r.creates_content]
        most: dict[str, int] = {}
        for who in {r.identity for r in writes}:
            times = sorted(r.at for r in writes if r.identity == who)
            first = 0
            for last, at in enumerate(times):
                while at - times[first] >= window:
                    first += 1
                most[who] = max(most.get(who, 0), last - first + 1)
        return most

    def count(self, status_from: int, status_to: int = 599) -> int:
        with self.lock:
            return sum(1 for r in self.requests if status_from <= r.status <= status_to)

    # --- answering --------------------------------------------------------------------------

    def deny(self, request: Request) -> tuple[int, dict[str, str], bytes] | None:
        """The answer to a request whose credentials do not allow it; None when they do.
        (The GitHub App stand-in, fake_github_app.py, checks installation tokens instead.)"""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _json(401, {"message": "Bad credentials"})
        return None

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        denied = self.deny(request)
        return denied if denied is not None else self.route(request)

    def route(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        """The answer to an authorised request: a planned fault, else the endpoint's."""
        with self.lock:
            fault = next((f for f in self.faults if _matches(f, request)), None)
            if fault is not None:
                self.faults.remove(fault)
        if fault is not None:
            return _json(fault.status, fault.body, fault.headers)
        for method, pattern, name in _ROUTES:
            match = pattern.fullmatch(request.path)
            if method == request.method and match:
                with self.lock:
                    return getattr(self, "_" + name)(request, *match.groups())
        return _json(404, {"message": "Not Found"})

    def _graphql(self, request: Request) -> tuple[int, dict, bytes]:
        """Review threads as GitHub's GraphQL API serves them: one per top-level review
        comment, with its replies; and resolveReviewThread."""
        data = request.json()
        query, variables = data.get("query", ""), data.get("variables") or {}
        if "resolveReviewThread" in query:
            thread_id = variables["threadId"]
            self.resolved_threads.add(thread_id)
            payload = {"resolveReviewThread": {"thread": {"id": thread_id, "isResolved": True}}}
            return _json(200, {"data": payload})
        repo = f"{variables['owner']}/{variables['name']}"
        stored = self.review_comments.get((repo, int(variables["number"])), [])
        nodes = []
        for root in (c for c in stored if not c.get("in_reply_to_id")):
            thread = [root, *(c for c in stored if c.get("in_reply_to_id") == root["id"])]
            node_id = f"PRRT_{root['id']}"
            nodes.append(
                {
                    "id": node_id,
                    "isResolved": node_id in self.resolved_threads,
                    "isOutdated": False,
                    "path": root.get("path", ""),
                    "line": root.get("line"),
                    "comments": {
                        "nodes": [
                            {
                                "author": _graphql_author((c.get("user") or {}).get("login", "")),
                                "body": c.get("body", ""),
                                "fullDatabaseId": str(c["id"]),
                            }
                            for c in thread
                        ],
                        "pageInfo": {"hasNextPage": False},
                    },
                }
            )
        connection = {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}
        pull = {"reviewThreads": connection}
        return _json(200, {"data": {"repository": {"pullRequest": pull}}})

    def _compare(self, request: Request, repo: str, base: str, head: str) -> tuple:
        """GitHub's three-dot comparison: the commits on `head` since the merge base, and
        the files that changed between the merge base and `head`."""
        chains = [self._ancestry(repo, sha) for sha in (base, head)]
        if not chains[0] or not chains[1]:
            return _json(404, {"message": "Not Found"})
        base_chain, head_chain = chains
        merge_base = next((sha for sha in head_chain if sha in base_chain), None)
        if merge_base is None:
            return _json(404, {"message": f"No common ancestor between {base} and {head}."})
        ahead_by, behind_by = head_chain.index(merge_base), base_chain.index(merge_base)
        status = "diverged"
        if not behind_by:
            status = "ahead" if ahead_by else "identical"
        elif not ahead_by:
            status = "behind"
        commits = [self.commits[repo, sha] for sha in reversed(head_chain[:ahead_by])]
        files = compare_files(self.commits[repo, merge_base].diff, self.commits[repo, head].diff)
        return _json(
            200,
            {
                "url": f"{self.url}/repos/{repo}/compare/{base}...{head}",
                "html_url": f"https://github.com/{repo}/compare/{base}...{head}",
                "base_commit": {"sha": base},
                "merge_base_commit": {"sha": merge_base},
                "status": status,
                "ahead_by": ahead_by,
                "behind_by": behind_by,
                "total_commits": ahead_by,
                "commits": [{"sha": c.sha, "commit": {"message": c.message}} for c in commits],
                "files": [_file_json(entry) for entry in files],
            },
        )

    def _ancestry(self, repo: str, sha: str) -> list[str]:
        """`sha` and its ancestors, newest first; empty for an unknown commit."""
        chain: list[str] = []
        commit = self.commits.get((repo, sha))
        while commit is not None and commit.sha not in chain:
            chain.append(commit.sha)
            commit = self.commits.get((repo, commit.parent)) if commit.parent else None
        return chain

    def _user(self, request: Request) -> tuple[int, dict, bytes]:
        return _json(200, {"login": self.bot_login, "id": 1, "type": "User"})

    def _repository(self, request: Request, repo: str) -> tuple[int, dict, bytes]:
        return _json(200, {"full_name": repo, "default_branch": "main"})

    def _contents(self, request: Request, repo: str, path: str) -> tuple[int, dict, bytes]:
        """A file on the default branch, with its blob SHA as ETag so 304s work as on GitHub."""
        text = self.default_files.get((repo, path))
        ref = request.query.get("ref", [""])[0]
        if text is None or ref != "main":
            return _json(404, {"message": "Not Found"})
        data = text.encode()
        sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 (git's)
        etag = f'"{sha}"'
        if request.headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        body = {"type": "file", "encoding": "base64", "path": path, "sha": sha,
                "size": len(data), "content": base64.b64encode(data).decode()}  # fmt: skip
        return _json(200, body, {"ETag": etag})

    def _pull_or_404(self, repo: str, number: str) -> PullRequest | None:
        return self.pulls.get((repo, int(number)))

    def _pull(self, request: Request, repo: str, number: str) -> tuple[int, dict, bytes]:
        pull = self._pull_or_404(repo, number)
        if pull is None:
            return _json(404, {"message": "Not Found"})
        if "diff" in request.headers.get("accept", ""):
            if len(pull.files) > MAX_DIFF_FILES or pull.diff.count("\n") > MAX_DIFF_LINES:
                return _json(406, _too_large(len(pull.files) > MAX_DIFF_FILES))
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, pull.diff.encode()
        return _json(200, _pull_json(pull))

    def _files(self, request: Request, repo: str, number: str) -> tuple[int, dict, bytes]:
        pull = self._pull_or_404(repo, number)
        if pull is None:
            return _json(404, {"message": "Not Found"})
        items = [_file_json(f) for f in pull.files]
        return self._page(request, items)

    def _review_comments(self, request: Request, repo: str, number: str) -> tuple:
        return self._page(request, self.review_comments.get((repo, int(number)), []))

    def _issue_comments(self, request: Request, repo: str, number: str) -> tuple:
        items = sorted(
            (c for c in self.comments.values() if (c["repo"], c["number"]) == (repo, int(number))),
            key=lambda c: c["id"],
        )
        return self._page(request, [_public(c) for c in items])

    def _create_comment(self, request: Request, repo: str, number: str) -> tuple:
        if self._pull_or_404(repo, number) is None:
            return _json(404, {"message": "Not Found"})
        body = request.json().get("body")
        if not isinstance(body, str) or len(body) > MAX_COMMENT_CHARS:
            return _json(422, _too_long())
        comment_id = next(self._ids)
        self.comments[comment_id] = {
            "id": comment_id,
            "repo": repo,
            "number": int(number),
            "body": body,
            "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{comment_id}",
            "user": {"login": self.bot_login},
        }
        return _json(201, _public(self.comments[comment_id]))

    def _update_comment(self, request: Request, repo: str, comment_id: str) -> tuple:
        comment = self.comments.get(int(comment_id))
        if comment is None or comment["repo"] != repo:
            return _json(404, {"message": "Not Found"})
        body = request.json().get("body")
        if not isinstance(body, str) or len(body) > MAX_COMMENT_CHARS:
            return _json(422, _too_long())
        comment["body"] = body
        return _json(200, _public(comment))

    def _create_review(self, request: Request, repo: str, number: str) -> tuple:
        pull = self._pull_or_404(repo, number)
        if pull is None:
            return _json(404, {"message": "Not Found"})
        data = request.json()
        ranges = {f.path: f.right_ranges for f in pull.files}
        for comment in data.get("comments", []):
            if len(comment.get("body", "")) > MAX_COMMENT_CHARS:
                return _json(422, _too_long())
            if not _in_diff(ranges.get(comment.get("path"), []), comment):
                return _json(
                    422,
                    {
                        "message": "Unprocessable Entity",
                        "errors": ["Pull request review thread line must be part of the diff"],
                    },
                )
        review_id = next(self._ids)
        stored = self.review_comments.setdefault((repo, int(number)), [])
        for comment in data.get("comments", []):
            stored.append(
                {
                    "id": next(self._ids),
                    "pull_request_review_id": review_id,
                    "user": {"login": self.bot_login},
                    **comment,
                }
            )
        return _json(200, {"id": review_id, "state": "COMMENTED", "body": data.get("body")})

    def _create_status(self, request: Request, repo: str, sha: str) -> tuple:
        data = request.json()
        if data.get("state") not in {"error", "failure", "pending", "success"}:
            return _json(422, {"message": "Validation Failed"})
        return _json(201, {"id": next(self._ids), "state": data["state"], "context": "x"})

    def _react(self, request: Request, repo: str, kind: str, comment_id: str) -> tuple:
        """Reactions on a conversation or a review comment; a repeated one answers 200."""
        content = request.json().get("content")
        if content not in REACTIONS:
            return _json(422, {"message": "Validation Failed"})
        added = self.added_reactions.setdefault((repo, kind, int(comment_id)), [])
        again = content in added
        added.append(content)
        body = {"id": next(self._ids), "content": content, "user": {"login": BOT_LOGIN}}
        return _json(200 if again else 201, body)

    def _permission(self, request: Request, repo: str, login: str) -> tuple:
        role = self.roles.get((repo, login))
        if role is None:
            return _json(404, {"message": "Not Found"})
        permission = {"maintain": "write", "triage": "read"}.get(role, role)
        return _json(200, {"permission": permission, "role_name": role, "user": {"login": login}})

    def _reply(self, request: Request, repo: str, number: str, comment_id: str) -> tuple:
        """A reply in a review thread: only to the thread's first comment, as on GitHub."""
        stored = self.review_comments.get((repo, int(number)), [])
        root = next((c for c in stored if c["id"] == int(comment_id)), None)
        if root is None or root.get("in_reply_to_id"):
            return _json(404, {"message": "Not Found"})
        body = request.json().get("body")
        if not isinstance(body, str) or len(body) > MAX_COMMENT_CHARS:
            return _json(422, _too_long())
        reply = {
            "id": next(self._ids),
            "in_reply_to_id": root["id"],
            "path": root.get("path"),
            "line": root.get("line"),
            "side": root.get("side", "RIGHT"),
            "body": body,
            "user": {"login": BOT_LOGIN},
        }
        stored.append(reply)
        return _json(201, reply)

    def _create_check_run(self, request: Request, repo: str) -> tuple:
        if not self.serves_check_runs:
            return _json(403, {"message": "You must authenticate via a GitHub App."})
        data = request.json()
        if not data.get("name") or not re.fullmatch(r"[0-9a-f]{40}", data.get("head_sha", "")):
            return _json(422, {"message": "Invalid request: name and head_sha are required."})
        run: dict[str, Any] = {
            "id": next(self._ids),
            "repo": repo,
            "name": data["name"],
            "head_sha": data["head_sha"],
            "external_id": data.get("external_id", ""),
            "details_url": data.get("details_url"),
            "status": "queued",
            "conclusion": None,
            "output": {},
            "annotations": [],
            "actions": [],
            "updates": 0,
        }
        problem = _apply_check_run(run, data)
        if problem:
            return _json(422, {"message": problem})
        self.check_runs[run["id"]] = run
        return _json(201, _check_run_json(run))

    def _update_check_run(self, request: Request, repo: str, run_id: str) -> tuple:
        run = self.check_runs.get(int(run_id))
        if run is None or run["repo"] != repo:
            return _json(404, {"message": "Not Found"})
        problem = _apply_check_run(run, request.json())
        if problem:
            return _json(422, {"message": problem})
        run["updates"] += 1
        return _json(200, _check_run_json(run))

    def _reactions(self, request: Request, repo: str, comment_id: str) -> tuple:
        """The reactions on a review comment of `repo`; 404 for a comment it does not have."""
        known = any(
            c["id"] == int(comment_id)
            for (pull_repo, _), comments in self.review_comments.items()
            if pull_repo == repo
            for c in comments
        )
        if not known:
            return _json(404, {"message": "Not Found"})
        return self._page(request, self.reactions.get(int(comment_id), []))

    def _page(self, request: Request, items: list[dict[str, Any]]) -> tuple:
        """One page and a Link header to the next, as GitHub paginates.

        See docs/github-facts.md R3, R4.
        """
        per_page = min(int(request.query.get("per_page", [DEFAULT_PER_PAGE])[0]), 100)
        page = int(request.query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = (
                f'<{self.url}{request.path}?per_page={per_page}&page={page + 1}>; rel="next"'
            )
        return _json(200, chunk, headers)


def compare_files(old_diff: str, new_diff: str) -> list[FileEntry]:
    """What changed between two trees known by their diffs against one base.

    Exact where the diffs say what the file holds: a file in only one diff is the base's in
    the other (its hunks, or their reverse); a file added in both is known whole. A file
    changed in both some other way, differently, comes without a patch.
    """
    old = {entry.path: entry for entry in parse_files(old_diff)}
    new = {entry.path: entry for entry in parse_files(new_diff)}
    changed = []
    for path in [*new, *(p for p in old if p not in new)]:
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        if before is None and after is not None:
            changed.append(after)  # the base's file, then the new diff's
        elif after is None and before is not None and before.status != "renamed":
            changed.append(_reverted(before))  # back to the base's file
        elif before and after and before.status == after.status == "added":
            diff = difflib.unified_diff(_content(before), _content(after), lineterm="")
            patch = "\n".join(list(diff)[2:])  # without the ---/+++ header, as GitHub sends it
            if patch:
                changed.append(_entry(path, "modified", patch))
        else:
            entry = after or before
            assert entry is not None
            status = "modified" if after is not None else "removed"
            changed.append(FileEntry(path, None, status, None, entry.additions, 0, []))
    return changed


def _content(entry: FileEntry) -> list[str]:
    """An added file's lines, all of them in its one hunk."""
    lines = (entry.patch or "").splitlines()
    return [line[1:] for line in lines if line.startswith("+")]


def _reverted(entry: FileEntry) -> FileEntry:
    """The diff that undoes `entry`: sides swapped in every hunk, removed lines first."""
    lines: list[str] = []
    runs: dict[str, list[str]] = {"-": [], "+": []}  # the run of changed lines being read
    last = runs["-"]
    for line in [*(entry.patch or "").splitlines(), " "]:  # a sentinel ends the last run
        if line[:1] in ("+", "-"):
            last = runs["-" if line[:1] == "+" else "+"]
            last.append(("-" if line[:1] == "+" else "+") + line[1:])
        elif line[:1] == "\\" and last:  # "\ No newline": about the line before it
            last.append(line)
        else:
            lines += runs["-"] + runs["+"]
            runs = {"-": [], "+": []}
            last = runs["-"]
            header = re.match(r"^@@ -(\d+(?:,\d+)?) \+(\d+(?:,\d+)?) @@(.*)$", line)
            lines.append(f"@@ -{header[2]} +{header[1]} @@{header[3]}" if header else line)
    lines.pop()  # the sentinel
    status = {"added": "removed", "removed": "added"}.get(entry.status, "modified")
    return _entry(entry.path, status, "\n".join(lines) if entry.patch else None)


def _entry(path: str, status: str, patch: str | None) -> FileEntry:
    body = patch.splitlines() if patch else []
    ranges = []
    for line in body:
        match = _HUNK.match(line)
        if match:
            start, count = int(match[1]), int(match[2] if match[2] is not None else 1)
            if count:
                ranges.append((start, start + count - 1))
    return FileEntry(
        path=path,
        previous=None,
        status=status,
        patch=patch,
        additions=sum(1 for x in body if x.startswith("+")),
        deletions=sum(1 for x in body if x.startswith("-")),
        right_ranges=ranges,
    )


def _apply_check_run(run: dict[str, Any], data: dict[str, Any]) -> str:
    """Apply a create or update body to a stored run as GitHub does; the 422 message, or ""."""
    status, conclusion = data.get("status"), data.get("conclusion")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        return f"Invalid request: {conclusion!r} is not a conclusion."
    if status == "completed" and conclusion is None:
        return "Invalid request: a completed check run needs a conclusion."
    output = data.get("output")
    annotations = (output or {}).get("annotations") or []
    if output is not None and not (output.get("title") and "summary" in output):
        return "Invalid request: output needs a title and a summary."
    if len(annotations) > MAX_ANNOTATIONS:
        return f"Only {MAX_ANNOTATIONS} annotations are allowed per request."
    for note in annotations:
        required = ("path", "start_line", "end_line", "annotation_level", "message")
        if any(note.get(key) in (None, "") for key in required):
            return "Invalid request: an annotation misses a required field."
        if (
            note["annotation_level"] not in ANNOTATION_LEVELS
            or note["end_line"] < note["start_line"]
        ):
            return "Invalid request: a bad annotation."
    if len(data.get("actions") or []) > 3:
        return "Invalid request: at most 3 actions."
    if conclusion is not None:
        run.update(status="completed", conclusion=conclusion)
    elif status:
        run["status"] = status
    if output is not None:
        run["output"] = {k: v for k, v in output.items() if k != "annotations"}
        run["annotations"].extend(annotations)  # appended, never replaced
    if data.get("actions"):
        run["actions"] = data["actions"]
    return ""


def _check_run_json(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": run["id"],
        "head_sha": run["head_sha"],
        "name": run["name"],
        "external_id": run["external_id"],
        "status": run["status"],
        "conclusion": run["conclusion"],
        "details_url": run["details_url"],
        "output": {**run["output"], "annotations_count": len(run["annotations"])},
    }


def _graphql_author(login: str) -> dict[str, str]:
    """GraphQL names an App's bot without REST's "[bot]" suffix, as a Bot."""
    if login.endswith("[bot]"):
        return {"__typename": "Bot", "login": login.removesuffix("[bot]")}
    return {"__typename": "User", "login": login}


def _matches(fault: Fault, request: Request) -> bool:
    if fault.method != request.method or not fault.path.fullmatch(request.path):
        return False
    return fault.accept is None or fault.accept in request.headers.get("accept", "")


def _in_diff(ranges: list[tuple[int, int]], comment: dict[str, Any]) -> bool:
    line, start = comment.get("line"), comment.get("start_line", comment.get("line"))
    if not isinstance(line, int) or not isinstance(start, int):
        return False
    return any(first <= start and line <= last for first, last in ranges)


def _pull_json(pull: PullRequest) -> dict[str, Any]:
    owner = pull.repo.split("/")[0]
    return {
        "number": pull.number,
        "state": pull.state,
        "merged": False,
        "draft": False,
        "title": pull.title,
        "body": pull.body,
        "html_url": f"https://github.com/{pull.repo}/pull/{pull.number}",
        "user": {"login": owner},
        "head": {"sha": pull.head_sha, "ref": "feature"},
        "base": {"sha": pull.base_sha, "ref": "main"},
        "changed_files": len(pull.files),
    }


def _file_json(entry: FileEntry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "filename": entry.path,
        "status": entry.status,
        "additions": entry.additions,
        "deletions": entry.deletions,
        "changes": entry.additions + entry.deletions,
        "sha": "0" * 40,
    }
    if entry.patch is not None:
        data["patch"] = entry.patch
    if entry.previous:
        data["previous_filename"] = entry.previous
    return data


def _public(comment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in comment.items() if k not in ("repo", "number")}


def _too_large(files: bool) -> dict[str, Any]:
    limit = "files (300)" if files else "lines (20000)"
    return {
        "message": f"Sorry, the diff exceeded the maximum number of {limit}. Consider using "
        "'List pull requests files' API or locally cloning the repository instead.",
        "errors": [{"resource": "PullRequest", "field": "diff", "code": "too_large"}],
    }


def _too_long() -> dict[str, Any]:
    return {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "IssueComment",
                "code": "unprocessable",
                "field": "data",
                "message": "Body is too long (maximum is 65536 characters)",
            }
        ],
    }


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> tuple:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(data).encode(),
    )


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Prism's requests.Session expects

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            status, headers, body = fake.answer(request)
            request.status = status
            with fake.lock:
                fake.requests.append(request)
            respond(self, status, headers, body)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the requests are recorded; stderr stays quiet

    return Handler
