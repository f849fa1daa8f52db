import copy

import pytest

from reviews.commands import intake
from reviews.commands import services as command_services
from reviews.models import Command
from tests import stubs
from tests.fixtures import github_response
from tests.pr_commands.payloads import issue_comment, review_comment


@pytest.fixture
def record_command(db):
    """A command as the webhook records it from a comment delivery."""
    counter = iter(range(1, 1_000_000))

    def record(body: str, *, thread: bool = False, **comment) -> Command:
        comment.setdefault("comment_id", 7000 + next(counter))
        data = review_comment(body, **comment) if thread else issue_comment(body, **comment)
        event = "pull_request_review_comment" if thread else "issue_comment"
        decided = intake.decide(event, data, "prism")
        assert decided.comment is not None and decided.command is not None, decided.reason
        recorded = command_services.command_record_delivery(
            delivery_id=f"d-{comment['comment_id']}",
            comment=decided.comment,
            command=decided.command,
        )
        return Command.objects.get(id=recorded.command_id)

    return record


def reactions_api(comment_id: int, *, thread: bool = False) -> str:
    kind = "pulls" if thread else "issues"
    return f"{stubs.API}/repos/{stubs.REPO}/{kind}/comments/{comment_id}/reactions"


def permission_api(login: str) -> str:
    return f"{stubs.API}/repos/{stubs.REPO}/collaborators/{login}/permission"


def replies_api(root: int) -> str:
    return f"{stubs.REVIEW_COMMENTS_API}/{root}/replies"


def serve_reactions(http, comment_id: int, *, thread: bool = False) -> None:
    name = "pull-request-review-comment" if thread else "issue-comment"
    example = github_response(f"reactions.create-for-{name}.201.default.json")
    http.post(reactions_api(comment_id, thread=thread), status=201, json=example)


def serve_role(http, login: str, role: str) -> None:
    data = copy.deepcopy(
        github_response(
            "repos.get-collaborator-permission-level.200.response-if-user-has-admin-permissions.json"
        )
    )
    data["role_name"] = role
    data["permission"] = {"maintain": "write", "triage": "read"}.get(role, role)
    data["user"]["login"] = login
    http.get(permission_api(login), json=data)


def serve_reply(http, root: int) -> None:
    http.post(
        replies_api(root),
        status=201,
        json=github_response("pulls.create-reply-for-review-comment.201.default.json"),
    )
