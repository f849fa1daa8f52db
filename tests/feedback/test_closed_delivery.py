"""A closed (or merged) pull request: never a review; its delivery recorded exactly once and
answered at once, the read of its feedback handed to the broker after commit."""

import json
import uuid

import pytest
from kombu.exceptions import OperationalError

from reviews import dispatch
from reviews.github import events, signatures
from reviews.models import Analysis, FeedbackRead
from tests.fixtures import payload, payload_bytes

pytestmark = pytest.mark.django_db

SECRET = "test-webhook-secret"
CLOSED = ["pull_request.closed.json", "pull_request.closed.with-organization.json"]


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def deliver(body: bytes, *, delivery_id: str | None = None, event: str = "pull_request"):
        headers = {
            "HTTP_X_GITHUB_EVENT": event,
            "HTTP_X_GITHUB_DELIVERY": delivery_id or str(uuid.uuid4()),
            "HTTP_X_HUB_SIGNATURE_256": signatures.sign(SECRET, body),
        }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/github/", data=body, content_type="application/json", **headers
            )

    return deliver


def merged_body() -> bytes:
    data = payload("pull_request.closed.json")
    data["pull_request"].update(merged=True, merged_at="2019-05-15T15:20:40Z")
    return json.dumps(data, separators=(",", ":")).encode()


# --- the decision -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLOSED)
def test_a_closed_pull_request_is_never_reviewed_but_its_feedback_is_read(name):
    data = payload(name)

    decision = events.decide("pull_request", data)

    assert decision.review is False
    assert decision.feedback is True
    assert decision.action == "closed"
    assert decision.merged is False
    assert decision.pull_request is not None
    assert decision.pull_request.repo_full_name == data["repository"]["full_name"]
    assert decision.pull_request.number == data["pull_request"]["number"]


def test_a_merged_pull_request_is_read_as_merged():
    decision = events.decide("pull_request", json.loads(merged_body()))
    assert (decision.feedback, decision.merged, decision.review) == (True, True, False)


@pytest.mark.parametrize(
    "name", ["pull_request.opened.json", "pull_request.labeled.json", "pull_request.reopened.json"]
)
def test_no_other_action_reads_feedback(name):
    assert events.decide("pull_request", payload(name)).feedback is False


def test_a_closed_payload_without_its_pull_request_is_refused_with_the_field_named():
    data = payload("pull_request.closed.json")
    del data["pull_request"]["number"]
    with pytest.raises(events.PayloadError, match=r"pull_request\.number"):
        events.decide("pull_request", data)


# --- the webhook --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLOSED)
def test_a_closed_delivery_is_recorded_and_handed_over_never_reviewed(
    deliver, broker, feedback_broker, name
):
    response = deliver(payload_bytes(name), delivery_id="closed-1")

    assert response.status_code == 202
    read = FeedbackRead.objects.get()
    assert response.json() == {"status": "queued", "feedback_read_id": read.id}
    source = payload(name)
    assert read.delivery_id == "closed-1"
    assert read.repo_full_name == source["repository"]["full_name"]
    assert read.pr_number == source["pull_request"]["number"]
    assert (read.status, read.merged) == (FeedbackRead.Status.QUEUED, False)
    assert read.dispatched_at is not None
    feedback_broker.assert_called_once_with((read.id,))
    broker.assert_not_called()  # never a review
    assert not Analysis.objects.exists()


def test_a_merged_delivery_is_recorded_as_merged(deliver, broker, feedback_broker):
    assert deliver(merged_body()).status_code == 202
    assert FeedbackRead.objects.get().merged is True


def test_a_redelivered_closed_delivery_is_recorded_once(deliver, broker, feedback_broker):
    body = payload_bytes("pull_request.closed.json")

    first = deliver(body, delivery_id="closed-2")
    again = deliver(body, delivery_id="closed-2")

    read = FeedbackRead.objects.get()
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "feedback_read_id": read.id}
    feedback_broker.assert_called_once_with((read.id,))


def test_a_redelivery_of_a_failed_read_queues_it_again(deliver, broker, feedback_broker):
    body = payload_bytes("pull_request.closed.json")
    deliver(body, delivery_id="closed-3")
    read = FeedbackRead.objects.get()
    FeedbackRead.objects.filter(id=read.id).update(
        status=FeedbackRead.Status.FAILED, error="GitHub was down", attempts=5
    )

    response = deliver(body, delivery_id="closed-3")

    assert response.status_code == 202
    read.refresh_from_db()
    assert (read.status, read.error, read.attempts) == ("queued", "", 0)
    assert feedback_broker.call_count == 2


def test_a_pull_request_closed_again_after_a_reopen_is_read_again(deliver, broker, feedback_broker):
    body = payload_bytes("pull_request.closed.json")
    deliver(body, delivery_id="closed-first")
    deliver(body, delivery_id="closed-second")
    assert FeedbackRead.objects.count() == 2
    assert feedback_broker.call_count == 2


def test_with_the_broker_down_the_read_waits_for_the_sweep(deliver, broker, feedback_broker):
    feedback_broker.side_effect = OperationalError("Connection refused")

    response = deliver(payload_bytes("pull_request.closed.json"))

    assert response.status_code == 202  # the row is committed; the sweep sends it later
    read = FeedbackRead.objects.get()
    assert read.status == "queued" and read.dispatched_at is None
    feedback_broker.side_effect = None
    assert dispatch.sweep() == 1
    assert feedback_broker.call_args_list[-1].args == ((read.id,),)
    assert FeedbackRead.objects.get().dispatched_at is not None
    assert dispatch.sweep() == 0  # just handed over: left alone for a lease
