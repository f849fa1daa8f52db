"""What the scenarios share: the running stack, webhook deliveries as GitHub sends them."""

import hashlib
import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from reviews.github.signatures import sign
from tests.e2e.fake_github import FakeGitHub
from tests.e2e.fake_llm import FakeLLM
from tests.e2e.processes import Database, Prism, RedisProxy, RedisServer, wait_until
from tests.fixtures import diff_text, payload
from tests.pr_commands.payloads import as_bytes, issue_comment, review_comment

FINISHED = {"completed", "failed", "skipped", "superseded"}
# Ids of the comments people write in the scenarios, apart from the fake GitHub's own.
_COMMENT_IDS = itertools.count(900_001)


@dataclass
class Secrets:
    github_token: str
    webhook_secret: str
    llm_key: str
    metrics_token: str

    def all(self) -> dict[str, str]:
        return {
            "GITHUB_TOKEN": self.github_token,
            "GITHUB_WEBHOOK_SECRET": self.webhook_secret,
            "LLM_API_KEY": self.llm_key,
            "METRICS_TOKEN": self.metrics_token,
        }


@dataclass
class Tally:
    deliveries: int = 0
    server_errors: int = 0
    analyses: int | None = None
    comments: int | None = None
    outcomes: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


TALLY = Tally()


@dataclass
class Stack:
    github: FakeGitHub
    llm: FakeLLM
    prism: Prism
    db: Database
    redis: RedisServer | RedisProxy | None  # None on the embedded defaults
    secrets: Secrets
    log_dir: Path
    pytest_log: list[str]

    @property
    def webhook_url(self) -> str:
        return f"{self.prism.url}/webhooks/github/"

    def post_webhook(
        self,
        body: bytes,
        headers: dict[str, str],
        *,
        session: requests.Session | None = None,
        timeout: float = 30,
        url: str | None = None,
        verify: bool | str = True,
    ) -> requests.Response:
        """POST to gunicorn (or to `url`, a proxy in front of it), counting the delivery and
        any 5xx for the tally."""
        response = (session or requests).post(
            url or self.webhook_url, data=body, headers=headers, timeout=timeout, verify=verify
        )
        with TALLY.lock:
            TALLY.deliveries += 1
            TALLY.server_errors += response.status_code >= 500
        return response

    def deliver(
        self,
        body: bytes,
        *,
        delivery_id: str | None = None,
        event: str = "pull_request",
        session: requests.Session | None = None,
        timeout: float = 30,
        url: str | None = None,
        verify: bool | str = True,
    ) -> requests.Response:
        """Send `body` signed exactly as GitHub signs it (docs/github-facts.md W8)."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/e2e",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": sign(self.secrets.webhook_secret, body),
        }
        return self.post_webhook(
            body, headers, session=session, timeout=timeout, url=url, verify=verify
        )

    def open_pull(
        self,
        repo: str,
        number: int,
        *,
        diff: str,
        head: str | None = None,
        body: str = "",
        title: str | None = None,
    ) -> str:
        """A pull request at the fake GitHub and its `opened` delivery; returns the head SHA."""
        head = head or sha(f"{repo}#{number}@1")
        title = title or needle(repo, number)
        self.github.open_pull(
            repo, number, head_sha=head, diff=diff_or_fixture(diff), title=title, body=body
        )
        response = self.deliver(pull_request_event("opened", repo, number, head, title))
        assert response.status_code == 202, response.text
        return head

    def push(self, repo: str, number: int, *, diff: str | None, head: str) -> requests.Response:
        """New commits on the head branch, and the `synchronize` delivery that announces them."""
        self.github.push(repo, number, head_sha=head, diff=diff_or_fixture(diff) if diff else None)
        title = self.github.pulls[repo, number].title
        return self.deliver(pull_request_event("synchronize", repo, number, head, title))

    def force_push(self, repo: str, number: int, *, diff: str, head: str) -> requests.Response:
        """The head branch rewritten (a rebase, an amended commit): the new head is not a
        descendant of the old one. GitHub announces it as `synchronize` too."""
        self.github.force_push(repo, number, head_sha=head, diff=diff_or_fixture(diff))
        title = self.github.pulls[repo, number].title
        return self.deliver(pull_request_event("synchronize", repo, number, head, title))

    def close_pull(
        self, repo: str, number: int, *, merged: bool = False, delivery_id: str | None = None
    ) -> requests.Response:
        """The pull request closed (or merged), and the `closed` delivery that announces it."""
        self.github.close_pull(repo, number)
        pull = self.github.pulls[repo, number]
        body = pull_request_event("closed", repo, number, pull.head_sha, pull.title, merged=merged)
        return self.deliver(body, delivery_id=delivery_id)

    def analyses(self, repo: str) -> list[dict[str, Any]]:
        return self.db.analyses(repo)

    def comment(
        self,
        repo: str,
        number: int,
        body: str,
        *,
        login: str,
        association: str = "NONE",
        comment_id: int | None = None,
        delivery_id: str | None = None,
        installation: tuple[int, int] | None = None,
    ) -> tuple[requests.Response, int]:
        """Someone's conversation comment on the pull request, delivered as GitHub does;
        `installation`: (installation id, repository id), as a GitHub App receives it."""
        comment_id = comment_id or next(_COMMENT_IDS)
        data = issue_comment(
            body,
            comment_id=comment_id,
            login=login,
            association=association,
            pr_author=repo.split("/")[0],  # the fake's pull requests are opened by their owner
            repo=repo,
            number=number,
        )
        if installation is not None:
            data["installation"] = {"id": installation[0], "node_id": f"MDIz{installation[0]}"}
            data["repository"]["id"] = installation[1]
        response = self.deliver(as_bytes(data), event="issue_comment", delivery_id=delivery_id)
        return response, comment_id

    def reply_in_thread(
        self, repo: str, number: int, root_id: int, body: str, *, login: str, association: str
    ) -> tuple[requests.Response, int]:
        """Someone's reply in a review thread: stored at the fake GitHub, then delivered."""
        reply_id = self.github.reply_to_review_comment(repo, number, root_id, body, login=login)
        root = next(c for c in self.github.review_comments[repo, number] if c["id"] == root_id)
        data = review_comment(
            body,
            comment_id=reply_id,
            in_reply_to=root_id,
            login=login,
            association=association,
            path=root.get("path", ""),
            line=root.get("line") or 1,
            pr_author=repo.split("/")[0],
            repo=repo,
            number=number,
        )
        return self.deliver(as_bytes(data), event="pull_request_review_comment"), reply_id

    def commands(self, repo: str) -> list[dict[str, Any]]:
        return self.db.rows(
            "SELECT * FROM reviews_command WHERE repo_full_name = %s ORDER BY id", repo
        )

    def wait_for_commands(self, repo: str, count: int, *, timeout: float = 60) -> list[dict]:
        """The repository's commands once `count` of them exist and all are finished."""

        def finished() -> list[dict[str, Any]] | None:
            rows = self.commands(repo)
            done = len(rows) >= count and all(
                r["status"] not in {"queued", "running"} for r in rows
            )
            return rows if done else None

        return wait_until(finished, timeout=timeout, what=f"{count} finished commands of {repo}")

    def settled(self, row: dict[str, Any], shown: int | None) -> bool:
        """Finished, and a completed review also published: the row records where it posted
        (or why it could not) only after the comment, the inline review and the status. A
        review that a newer one overtook posts no comment, only its final status."""
        if row["status"] != "completed":
            return row["status"] in FINISHED
        if row["comment_posted_at"] or row["comment_error"]:
            return True
        final = {"success", "failure"} & set(
            self.github.statuses(row["repo_full_name"], row["head_sha"])
        )
        return bool(shown and shown > row["id"] and final)

    def wait_for_reviews(
        self, repo: str, count: int, *, timeout: float = 60
    ) -> list[dict[str, Any]]:
        """The repository's analyses once `count` of them exist and all are finished."""

        def finished() -> list[dict[str, Any]] | None:
            rows = self.analyses(repo)
            shown = self.db.rows(
                "SELECT max(analysis_id) AS id FROM reviews_stickycomment "
                "WHERE repo_full_name = %s",
                repo,
            )[0]["id"]
            done = len(rows) >= count and all(self.settled(r, shown) for r in rows)
            return rows if done else None

        return wait_until(finished, timeout=timeout, what=f"{count} finished reviews of {repo}")


def sha(seed: str) -> str:
    return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()


def needle(repo: str, number: int) -> str:
    """A PR title unique to the PR: the fake LLM recognises the PR's prompts by it."""
    return f"Change for {repo} number {number}"


def diff_or_fixture(diff: str) -> str:
    """A fixture name (`01-plain-modification`) or the text of a diff."""
    return diff if diff.startswith("diff --git") else diff_text(diff)


def pull_request_event(
    action: str, repo: str, number: int, head: str, title: str, *, merged: bool = False
) -> bytes:
    """A real `pull_request` payload rewritten to point at the fake pull request."""
    name = {
        "synchronize": "pull_request.synchronize.json",
        "closed": "pull_request.closed.json",
    }.get(action, "pull_request.opened.json")
    data = payload(name)
    owner, repo_name = repo.split("/")
    data["action"] = action
    data["number"] = number
    pull = data["pull_request"]
    pull.update(
        number=number,
        state="closed" if action == "closed" else "open",
        merged=merged,
        draft=False,
        title=title,
        html_url=f"https://github.com/{repo}/pull/{number}",
    )
    pull["head"]["sha"] = head
    pull["base"]["sha"] = "b" * 40
    data["repository"].update(full_name=repo, name=repo_name)
    data["repository"]["owner"]["login"] = owner
    if action == "synchronize":
        data["after"] = head
    # Compact, as GitHub sends it (docs/github-facts.md W9).
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
