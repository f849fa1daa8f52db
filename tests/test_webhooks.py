import json
import logging
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu.exceptions import OperationalError

from reviews.github import signatures
from reviews.models import Analysis
from tests.fixtures import payload, payload_bytes

pytestmark = pytest.mark.django_db

SECRET = "test-webhook-secret"
URL = "/webhooks/github/"


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def deliver(
        body: bytes,
        *,
        event: str = "pull_request",
        delivery_id: str | None = None,
        content_type: str = "application/json",
        signature: str | None = None,
        url: str = URL,
    ):
        headers = {
            "HTTP_X_GITHUB_EVENT": event,
            "HTTP_X_GITHUB_DELIVERY": delivery_id or str(uuid.uuid4()),
            "HTTP_X_HUB_SIGNATURE_256": signature
            if signature is not None
            else signatures.sign(SECRET, body),
        }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data=body, content_type=content_type, **headers)

    return deliver


def test_an_opened_pull_request_is_queued_for_review(deliver, broker):
    response = deliver(payload_bytes("pull_request.opened.json"), delivery_id="d-1")

    assert response.status_code == 202
    analysis = Analysis.objects.get()
    assert response.json() == {"status": "queued", "analysis_id": analysis.id}
    source = payload("pull_request.opened.json")
    assert analysis.delivery_id == "d-1"
    assert (analysis.event, analysis.action) == ("pull_request", "opened")
    assert analysis.repo_full_name == source["repository"]["full_name"]
    assert analysis.pr_number == source["pull_request"]["number"]
    assert analysis.head_sha == source["pull_request"]["head"]["sha"]
    assert analysis.base_sha == source["pull_request"]["base"]["sha"]
    assert analysis.pr_author == source["pull_request"]["user"]["login"]
    assert analysis.status == Analysis.Status.QUEUED
    broker.assert_called_once_with((analysis.id,))


@pytest.mark.parametrize(
    "name",
    [
        "pull_request.synchronize.json",
        "pull_request.reopened.json",
        "pull_request.ready_for_review.json",
        "pull_request.opened.with-null-body.json",
        "pull_request.opened.with-organization.json",
    ],
)
def test_every_reviewed_action_is_queued(deliver, broker, name):
    assert deliver(payload_bytes(name)).status_code == 202
    assert broker.call_count == 1


def test_the_url_without_trailing_slash_works_too(deliver, broker):
    response = deliver(payload_bytes("pull_request.opened.json"), url="/webhooks/github")
    assert response.status_code == 202


def test_a_form_encoded_delivery_is_accepted(deliver, broker):
    body = urlencode({"payload": payload_bytes("pull_request.opened.json").decode()}).encode()
    response = deliver(body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202
    assert Analysis.objects.count() == 1


def test_a_missing_signature_is_refused_and_nothing_is_stored(client, broker):
    response = client.post(
        URL,
        data=payload_bytes("pull_request.opened.json"),
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="pull_request",
        HTTP_X_GITHUB_DELIVERY="d-unsigned",
    )
    assert response.status_code == 401
    assert not Analysis.objects.exists()
    broker.assert_not_called()


def test_a_wrong_signature_is_refused(deliver, broker):
    body = payload_bytes("pull_request.opened.json")
    response = deliver(body, signature=signatures.sign("another-secret", body))
    assert response.status_code == 401
    assert not Analysis.objects.exists()


def test_a_signature_over_other_bytes_is_refused(deliver, broker):
    body = payload_bytes("pull_request.opened.json")
    pretty = json.dumps(json.loads(body), indent=2).encode()
    response = deliver(pretty, signature=signatures.sign(SECRET, body))
    assert response.status_code == 401


@override_settings(GITHUB_WEBHOOK_SECRET="")
def test_without_a_configured_secret_every_delivery_is_refused(deliver, broker, caplog):
    body = payload_bytes("pull_request.opened.json")
    with caplog.at_level(logging.ERROR, logger="reviews.webhooks"):
        response = deliver(body, signature=signatures.sign("", body))
    assert response.status_code == 403
    assert "GITHUB_WEBHOOK_SECRET is not configured" in caplog.text
    assert not Analysis.objects.exists()


def test_ping_answers_200(deliver, broker):
    response = deliver(payload_bytes("ping.json"), event="ping")
    assert response.status_code == 200
    assert not Analysis.objects.exists()


@pytest.mark.parametrize(
    ("event", "name", "reason"),
    [
        ("pull_request", "pull_request.labeled.json", "action 'labeled'"),
        ("pull_request", "pull_request.converted_to_draft.json", "action 'converted_to_draft'"),
        ("push", "push.json", "event 'push'"),
        ("pull_request_review", "pull_request_review.submitted.json", "pull_request_review"),
    ],
)
def test_other_events_and_actions_are_ignored_with_a_reason(deliver, broker, event, name, reason):
    response = deliver(payload_bytes(name), event=event)
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert reason in response.json()["reason"]
    assert not Analysis.objects.exists()
    broker.assert_not_called()


def test_a_draft_pull_request_is_ignored(deliver, broker):
    data = payload("pull_request.opened.json")
    data["pull_request"]["draft"] = True
    body = json.dumps(data).encode()
    response = deliver(body)
    assert response.json() == {"status": "ignored", "reason": "pull request is a draft"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"action": "opened"}', "missing pull_request"),
        (b'{"action": "opened", "pull_request": {"number": 1}, "repository": {}}', "head"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_a_malformed_payload_gets_a_400_with_a_clear_message(deliver, broker, body, message):
    response = deliver(body)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not Analysis.objects.exists()


def test_a_form_body_without_payload_field_gets_a_400(deliver, broker):
    response = deliver(b"other=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "payload" in response.json()["detail"]


def test_a_missing_delivery_id_gets_a_400(client, broker):
    body = payload_bytes("pull_request.opened.json")
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="pull_request",
        HTTP_X_HUB_SIGNATURE_256=signatures.sign(SECRET, body),
    )
    assert response.status_code == 400


def test_a_body_over_25_mb_gets_a_413_before_any_work(deliver, broker):
    body = b"x" * (25 * 1024 * 1024 + 1)
    response = deliver(body)
    assert response.status_code == 413
    assert not Analysis.objects.exists()


def test_a_duplicate_delivery_answers_duplicate_and_queues_nothing(deliver, broker):
    body = payload_bytes("pull_request.opened.json")
    first = deliver(body, delivery_id="dup-1").json()
    second = deliver(body, delivery_id="dup-1")

    assert second.status_code == 200
    assert second.json() == {"status": "duplicate", "analysis_id": first["analysis_id"]}
    assert Analysis.objects.count() == 1
    assert broker.call_count == 1


def test_a_redelivered_failed_delivery_is_queued_again(deliver, broker):
    body = payload_bytes("pull_request.opened.json")
    analysis_id = deliver(body, delivery_id="redo-1").json()["analysis_id"]
    Analysis.objects.filter(id=analysis_id).update(status="failed", error="LLM down")

    response = deliver(body, delivery_id="redo-1")

    assert response.status_code == 202
    assert response.json() == {"status": "queued", "analysis_id": analysis_id}
    analysis = Analysis.objects.get()
    assert (analysis.status, analysis.error) == ("queued", "")
    assert broker.call_count == 2


def test_a_replayed_delivery_under_a_fresh_id_is_answered_duplicate_and_never_reviewed(
    deliver, broker
):
    # The delivery id is not signed: an attacker holding one signed body can mint ids.
    body = payload_bytes("pull_request.opened.json")
    first = deliver(body, delivery_id="real-1").json()["analysis_id"]

    replays = [deliver(body, delivery_id=f"replay-{n}") for n in range(3)]

    assert [r.status_code for r in replays] == [200, 200, 200]
    assert all(r.json() == {"status": "duplicate", "analysis_id": first} for r in replays)
    assert broker.call_count == 1
    recorded = Analysis.objects.exclude(id=first)
    rows = list(recorded.order_by("delivery_id"))
    assert [row.delivery_id for row in rows] == ["replay-0", "replay-1", "replay-2"]
    assert {row.status for row in rows} == {"skipped"}
    assert f"already reviewed by analysis #{first}" in rows[0].error


def test_a_delivery_for_a_head_already_reviewed_is_a_duplicate_too(deliver, broker):
    body = payload_bytes("pull_request.opened.json")
    first = deliver(body).json()["analysis_id"]
    Analysis.objects.filter(id=first).update(status="completed")

    response = deliver(body)

    assert (response.status_code, response.json()["status"]) == (200, "duplicate")
    assert broker.call_count == 1


def test_a_head_whose_review_failed_is_reviewed_again_by_a_new_delivery(deliver, broker):
    body = payload_bytes("pull_request.opened.json")
    first = deliver(body).json()["analysis_id"]
    Analysis.objects.filter(id=first).update(status="failed", error="LLM down")

    response = deliver(body)

    assert response.status_code == 202
    assert response.json()["analysis_id"] != first
    assert broker.call_count == 2


def test_a_rerun_may_review_a_head_that_was_already_reviewed(deliver, broker):
    from reviews.dispatch import queue_rerun

    first = Analysis.objects.get(
        id=deliver(payload_bytes("pull_request.opened.json")).json()["analysis_id"]
    )
    Analysis.objects.filter(id=first.id).update(status="completed")

    rerun = queue_rerun(first)

    assert (rerun.status, rerun.rerun_of_id) == ("queued", first.id)


def test_a_redelivery_of_a_failed_delivery_stays_a_duplicate_while_another_review_holds_the_head(
    deliver, broker
):
    body = payload_bytes("pull_request.opened.json")
    failed = deliver(body, delivery_id="old-1").json()["analysis_id"]
    Analysis.objects.filter(id=failed).update(status="failed")
    deliver(body, delivery_id="new-1")

    response = deliver(body, delivery_id="old-1")

    assert (response.status_code, response.json()["status"]) == (200, "duplicate")
    assert Analysis.objects.get(id=failed).status == "failed"


def _pull_request_with(**changes: object) -> bytes:
    data = payload("pull_request.opened.json")
    data["pull_request"].update(changes)
    # ensure_ascii keeps a lone surrogate as its \\ud800 escape, as an attacker would send it.
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"title": "fix \ud800 things"}, "pull_request.title contains an unpaired surrogate"),
        ({"title": "nul \x00 byte"}, "pull_request.title contains a NUL character"),
        ({"number": 2**31}, "pull_request.number must be a positive integer below 2^31"),
        ({"head": {"sha": "z" * 40}}, "pull_request.head.sha (40 or 64 hex digits)"),
        ({"html_url": "https://github.com/\x00"}, "pull_request.html_url contains a NUL"),
    ],
)
def test_odd_values_in_a_signed_payload_get_a_400_with_the_reason(deliver, broker, changes, reason):
    response = deliver(_pull_request_with(**changes))

    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert not Analysis.objects.exists()


def test_with_the_broker_down_the_delivery_is_still_accepted_and_left_for_the_sweep(
    deliver, broker
):
    broker.side_effect = OperationalError("Connection refused")

    response = deliver(payload_bytes("pull_request.opened.json"))

    assert response.status_code == 202
    analysis = Analysis.objects.get()
    assert analysis.status == "queued"
    assert analysis.dispatched_at is None


def test_secrets_never_reach_the_logs(deliver, broker, caplog, settings):
    with caplog.at_level(logging.DEBUG):
        deliver(payload_bytes("pull_request.opened.json"))
        deliver(b"{}", signature="sha256=bad")
    for secret in (settings.GITHUB_WEBHOOK_SECRET, settings.GITHUB_TOKEN, settings.LLM_API_KEY):
        assert secret not in caplog.text


def test_a_ping_with_a_malformed_body_gets_a_400_not_a_500(deliver, broker):
    response = deliver(b"{not json", event="ping")
    assert response.status_code == 400


@pytest.mark.parametrize("action", [[], {}, ["opened"], 7, None])
def test_an_action_that_is_not_a_string_is_ignored_not_a_500(deliver, broker, action):
    # Found by the end-to-end fuzzer: a list is unhashable, so a set lookup raised.
    data = payload("pull_request.opened.json")
    data["action"] = action
    response = deliver(json.dumps(data).encode())
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"


# Text a JSON body can carry but a database may refuse: NUL, lone surrogates, huge numbers.
ODD_TEXT = st.text(
    alphabet=st.characters() | st.sampled_from("\x00\ud800\udfff"),
    max_size=8,
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**31 - 2, max_value=2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | ODD_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    ("action",),
    ("number",),
    ("pull_request",),
    ("pull_request", "number"),
    ("pull_request", "head"),
    ("pull_request", "head", "sha"),
    ("pull_request", "base", "sha"),
    ("pull_request", "draft"),
    ("pull_request", "state"),
    ("pull_request", "title"),
    ("pull_request", "html_url"),
    ("pull_request", "user"),
    ("pull_request", "user", "login"),
    ("repository",),
    ("repository", "full_name"),
]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(replacements=st.lists(st.tuples(st.sampled_from(FIELDS), JSON_VALUES), max_size=4))
def test_a_signed_payload_with_any_field_of_any_type_never_gets_a_5xx(broker, replacements):
    data = payload("pull_request.opened.json")
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
        HTTP_X_GITHUB_EVENT="pull_request",
        HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
        HTTP_X_HUB_SIGNATURE_256=signatures.sign(SECRET, body),
    )
    assert response.status_code in {200, 202, 400}, response.content
