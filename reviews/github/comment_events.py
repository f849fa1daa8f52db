"""Comments on pull requests, as webhooks deliver them: what Prism reads of them. Pure.

Two events carry them (docs: https://docs.github.com/webhooks/webhook-events-and-payloads):
`issue_comment` (the conversation; every pull request is an issue, and only a pull request's
issue has a `pull_request` key) and `pull_request_review_comment` (a comment on the diff, or
a reply in a review thread: `in_reply_to_id` names the thread's first comment). Only a new
comment (`created`) may be a command: an edit or a deletion never runs one again.
"""

from dataclasses import dataclass
from typing import Any

from reviews.github.events import PayloadError, _field, _optional_id, _text, installation_id

ISSUE_COMMENT = "issue_comment"
REVIEW_COMMENT = "pull_request_review_comment"
EVENTS = frozenset({ISSUE_COMMENT, REVIEW_COMMENT})
COMMAND_ACTIONS = frozenset({"created"})


@dataclass(frozen=True)
class PullRequestComment:
    event: str  # ISSUE_COMMENT or REVIEW_COMMENT
    comment_id: int
    body: str
    author: str
    author_type: str  # "User", "Bot", "Organization"
    author_association: str  # OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE, …
    repo_full_name: str
    pr_number: int
    pr_author: str
    html_url: str = ""
    in_reply_to_id: int | None = None  # a reply in a review thread: the thread's first comment
    path: str = ""  # a review comment's file and line
    line: int | None = None
    # GitHub App mode: the installation the delivery was sent for, and the repository's id
    # (which survives a rename): what the allow-list checks (reviews/installations/gate.py).
    installation_id: int | None = None
    repository_id: int | None = None

    @property
    def in_thread(self) -> bool:
        return self.event == REVIEW_COMMENT


@dataclass(frozen=True)
class Reading:
    """A comment that may hold a command, or why the delivery is ignored."""

    comment: PullRequestComment | None
    reason: str = ""


def read(event: str, payload: dict[str, Any]) -> Reading:
    action = payload.get("action")
    if not isinstance(action, str) or action not in COMMAND_ACTIONS:
        return Reading(None, f"{event} action {action!r} runs no command")
    if event == ISSUE_COMMENT:
        issue = _field(payload, "issue", dict)
        if not isinstance(issue.get("pull_request"), dict):
            return Reading(None, "the comment is on an issue, not a pull request")
        number, pr_author = issue.get("number"), _login(issue.get("user"))
    else:
        pull = _field(payload, "pull_request", dict)
        number, pr_author = pull.get("number"), _login(pull.get("user"))
    if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 2**31:
        raise PayloadError("the pull request's number must be a positive integer below 2^31")
    comment = _field(payload, "comment", dict)
    comment_id = _id(comment.get("id"), "comment.id")
    user = comment.get("user") if isinstance(comment.get("user"), dict) else {}
    repository = _field(payload, "repository", dict)
    reply_to = comment.get("in_reply_to_id")
    line = comment.get("line")
    return Reading(
        PullRequestComment(
            event=event,
            comment_id=comment_id,
            body=_text(str(comment.get("body") or ""), "comment.body"),
            author=_text(str(user.get("login") or ""), "comment.user.login")[:100],
            author_type=str(user.get("type") or ""),
            author_association=_text(
                str(comment.get("author_association") or "NONE"), "comment.author_association"
            )[:32],
            repo_full_name=_text(
                _field(repository, "full_name", str, "repository."), "repository.full_name"
            )[:200],
            pr_number=number,
            pr_author=_text(pr_author, "the pull request's user.login")[:100],
            html_url=_text(str(comment.get("html_url") or ""), "comment.html_url")[:500],
            in_reply_to_id=_id(reply_to, "comment.in_reply_to_id") if reply_to else None,
            path=_text(str(comment.get("path") or ""), "comment.path")[:1000],
            # The database stores a 32-bit integer; anything else is no line Prism can use.
            line=line
            if isinstance(line, int) and not isinstance(line, bool) and 0 < line < 2**31
            else None,
            installation_id=installation_id(payload),
            repository_id=_optional_id(repository, "repository.id"),
        )
    )


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, dict) else ""


def _id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise PayloadError(f"{name} must be a positive integer")
    return value
