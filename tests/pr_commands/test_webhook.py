"""Comment deliveries at the webhook: signed, recorded once per comment, answered at once."""

import json
import uuid
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from reviews.github import signatures
from reviews.models import Analysis, Command
from tests.pr_commands.payloads import as_bytes, issue_comment, review_comment
from tests.test_webhooks import JSON_VALUES

pytestmark = pytest.mark.django_db

SECRET = "test-webhook-secret"
URL = "/webhooks/github/"


@pytest.fixture
def queue():
    """The broker for commands, stood in for."""
    with mock.patch("reviews.tasks.run_command.apply_async") as apply_async:
        yield apply_async


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def deliver(data, *, event="issue_comment", delivery_id=None, signature=None):
        body = as_bytes(data) if isinstance(data, dict) else data
        headers = {
            "HTTP_X_GITHUB_EVENT": event,
            "HTTP_X_GITHUB_DELIVERY": delivery_id or str(uuid.uuid4()),
            "HTTP_X_HUB_SIGNATURE_256": signature or signatures.sign(SECRET, body),
        }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, data=body, content_type="application/json", **headers)

    return deliver


def test_a_command_on_a_pull_request_is_recorded_and_queued(deliver, queue):
    response = deliver(issue_comment("@prism review"), delivery_id="d-1")

    assert response.status_code == 202
    command = Command.objects.get()
    assert response.json() == {"status": "queued", "command_id": command.id}
    assert (command.source, command.comment_id, command.delivery_id) == (
        "issue_comment",
        5001,
        "d-1",
    )
    assert (command.repo_full_name, command.pr_number, command.pr_author) == (
        "octo/widgets",
        7,
        "octo",
    )
    assert (command.author, command.author_association) == ("alice", "COLLABORATOR")
    assert (command.verb, command.status) == ("review", "queued")
    assert command.comment_url.endswith("#issuecomment-5001")
    queue.assert_called_once_with((command.id,))
    assert not Analysis.objects.exists()  # the worker decides; nothing is reviewed here


def test_a_review_thread_reply_records_its_thread_and_place(deliver, queue):
    data = review_comment("@prism dismiss handled upstream", comment_id=6002, in_reply_to=6001)

    response = deliver(data, event="pull_request_review_comment")

    assert response.status_code == 202
    command = Command.objects.get()
    assert (command.source, command.comment_id, command.in_reply_to_id) == (
        "pull_request_review_comment",
        6002,
        6001,
    )
    assert (command.verb, command.arguments) == ("dismiss", "handled upstream")
    assert (command.path, command.line) == ("src/requests/auth.py", 164)


def test_a_redelivery_and_a_replay_under_a_new_id_run_nothing_again(deliver, queue):
    data = issue_comment("@prism review")
    first = deliver(data, delivery_id="d-1")

    again = deliver(data, delivery_id="d-1")
    replayed = deliver(data, delivery_id="d-2")

    command_id = first.json()["command_id"]
    assert again.status_code == replayed.status_code == 200
    assert again.json() == replayed.json() == {"status": "duplicate", "command_id": command_id}
    assert Command.objects.count() == 1
    queue.assert_called_once_with((command_id,))


@pytest.mark.parametrize("action", ["edited", "deleted"])
def test_an_edited_or_deleted_comment_never_runs_a_command(deliver, queue, action):
    response = deliver(issue_comment("@prism review", action=action))

    assert response.status_code == 200
    assert response.json() == {
        "status": "ignored",
        "reason": f"issue_comment action {action!r} runs no command",
    }
    assert not Command.objects.exists()
    queue.assert_not_called()


def test_an_edited_review_comment_never_runs_a_command(deliver, queue):
    response = deliver(
        review_comment("@prism review", action="edited"), event="pull_request_review_comment"
    )

    assert response.json()["status"] == "ignored"
    assert not Command.objects.exists()


def test_a_comment_on_an_issue_is_ignored(deliver, queue):
    response = deliver(issue_comment("@prism review", on_pull_request=False))

    assert response.json() == {
        "status": "ignored",
        "reason": "the comment is on an issue, not a pull request",
    }
    assert not Command.objects.exists()


def test_a_bots_comment_is_ignored(deliver, queue):
    data = issue_comment("@prism review", login="dependabot[bot]", user_type="Bot")

    response = deliver(data)

    assert response.json() == {
        "status": "ignored",
        "reason": "comment by the bot 'dependabot[bot]'",
    }
    assert not Command.objects.exists()
    queue.assert_not_called()


def test_an_ordinary_comment_is_ignored(deliver, queue):
    response = deliver(issue_comment("Looks good to me, thanks @prism!"))

    assert response.json() == {"status": "ignored", "reason": "not a command for @prism"}
    assert not Command.objects.exists()


def test_the_real_example_payload_is_an_issue_comment_without_a_command(deliver, queue):
    # GitHub's own example, unchanged: a comment on an issue.
    from tests.fixtures import payload_bytes

    response = deliver(payload_bytes("issue_comment.created.json"))

    assert response.json()["status"] == "ignored"


def test_an_unknown_verb_is_recorded_so_the_worker_can_say_why(deliver, queue):
    response = deliver(issue_comment("@prism frobnicate"))

    assert response.status_code == 202
    assert Command.objects.get().verb == "unknown"


def test_a_bad_signature_is_refused_before_anything(deliver, queue):
    response = deliver(issue_comment("@prism review"), signature="sha256=" + "0" * 64)

    assert response.status_code == 401
    assert not Command.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "detail"),
    [
        (lambda d: d.pop("comment"), "the payload is missing comment"),
        (lambda d: d["comment"].update(id="12"), "comment.id must be a positive integer"),
        (lambda d: d["issue"].update(number=-1), "number must be a positive integer"),
        (lambda d: d["comment"].update(body="@prism ask \x00"), "comment.body contains a NUL"),
    ],
)
def test_an_unusable_comment_payload_is_a_400_naming_the_field(deliver, queue, mutate, detail):
    data = issue_comment("@prism review")
    mutate(data)

    response = deliver(data)

    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert not Command.objects.exists()


def test_the_bot_name_setting_is_what_comments_address(deliver, queue, settings):
    settings.PRISM_BOT_NAME = "acme-review"

    ignored = deliver(issue_comment("@prism review", comment_id=1))
    queued = deliver(issue_comment("@acme-review review", comment_id=2))

    assert ignored.json()["status"] == "ignored"
    assert queued.status_code == 202


COMMENT_FIELDS = [
    ("action",),
    ("issue",),
    ("issue", "number"),
    ("issue", "pull_request"),
    ("issue", "user"),
    ("comment",),
    ("comment", "id"),
    ("comment", "body"),
    ("comment", "user"),
    ("comment", "user", "login"),
    ("comment", "user", "type"),
    ("comment", "author_association"),
    ("comment", "html_url"),
    ("comment", "in_reply_to_id"),
    ("comment", "line"),
    ("comment", "path"),
    ("pull_request",),
    ("pull_request", "number"),
    ("repository",),
    ("repository", "full_name"),
]


@hypothesis_settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    thread=st.booleans(),
    replacements=st.lists(st.tuples(st.sampled_from(COMMENT_FIELDS), JSON_VALUES), max_size=4),
)
def test_a_signed_comment_with_any_field_of_any_type_never_gets_a_5xx(queue, thread, replacements):
    data = review_comment("@prism review") if thread else issue_comment("@prism review")
    for path, value in replacements:
        target: Any = data
        for key in path[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[path[-1]] = value
    body = json.dumps(data).encode()
    response = Client().post(
        URL,
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="pull_request_review_comment" if thread else "issue_comment",
        HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
        HTTP_X_HUB_SIGNATURE_256=signatures.sign(SECRET, body),
    )
    assert response.status_code in {200, 202, 400}, response.content
