"""Comment deliveries built from GitHub's real example payloads, as a test needs them."""

import json
from typing import Any

from tests.fixtures import payload

REPO = "octo/widgets"
NUMBER = 7


def issue_comment(
    body: str,
    *,
    comment_id: int = 5001,
    login: str = "alice",
    association: str = "COLLABORATOR",
    user_type: str = "User",
    action: str = "created",
    on_pull_request: bool = True,
    pr_author: str = "octo",
    repo: str = REPO,
    number: int = NUMBER,
) -> dict[str, Any]:
    """An `issue_comment` delivery; GitHub marks a pull request's issue with `pull_request`."""
    name = "issue_comment.edited.json" if action == "edited" else "issue_comment.created.json"
    data = payload(name)
    data["action"] = action
    issue = data["issue"]
    issue["number"] = number
    issue["user"]["login"] = pr_author
    if on_pull_request:
        issue["pull_request"] = {
            "url": f"https://api.github.com/repos/{repo}/pulls/{number}",
            "html_url": f"https://github.com/{repo}/pull/{number}",
        }
    _comment(data["comment"], body, comment_id, login, association, user_type)
    data["comment"]["html_url"] = (
        f"https://github.com/{repo}/pull/{number}#issuecomment-{comment_id}"
    )
    data["repository"]["full_name"] = repo
    return data


def review_comment(
    body: str,
    *,
    comment_id: int = 6001,
    in_reply_to: int | None = None,
    login: str = "alice",
    association: str = "COLLABORATOR",
    user_type: str = "User",
    action: str = "created",
    path: str = "src/requests/auth.py",
    line: int = 164,
    pr_author: str = "octo",
    repo: str = REPO,
    number: int = NUMBER,
) -> dict[str, Any]:
    """A `pull_request_review_comment` delivery; a reply in a thread has `in_reply_to_id`."""
    data = payload("pull_request_review_comment.created.json")
    data["action"] = action
    data["pull_request"]["number"] = number
    data["pull_request"]["user"]["login"] = pr_author
    comment = data["comment"]
    _comment(comment, body, comment_id, login, association, user_type)
    comment.update(
        path=path,
        line=line,
        html_url=f"https://github.com/{repo}/pull/{number}#discussion_r{comment_id}",
    )
    if in_reply_to is not None:
        comment["in_reply_to_id"] = in_reply_to
    data["repository"]["full_name"] = repo
    return data


def _comment(comment, body, comment_id, login, association, user_type) -> None:
    comment.update(id=comment_id, body=body, author_association=association)
    comment["user"]["login"] = login
    comment["user"]["type"] = user_type


def as_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
