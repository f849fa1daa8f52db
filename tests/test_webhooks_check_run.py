"""`check_run` deliveries on Prism's own check run: "Re-run" (rerequested) and the "Re-run
review" button (requested_action) queue a re-run of that analysis's head, exactly once per
delivery id; anything else is ignored with its reason. Real payloads, adapted to name the
check run a review created."""

import json
import uuid
from typing import Any

import pytest

from reviews.github import signatures
from reviews.models import Analysis, Installation, Repository
from tests.fixtures import payload

pytestmark = pytest.mark.django_db

SECRET = "test-webhook-secret"
URL = "/webhooks/github/"
CHECK_RUN_ID = 1494503112


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def deliver(body: dict[str, Any], *, delivery_id: str | None = None):
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {
            "HTTP_X_GITHUB_EVENT": "check_run",
            "HTTP_X_GITHUB_DELIVERY": delivery_id or str(uuid.uuid4()),
            "HTTP_X_HUB_SIGNATURE_256": signatures.sign(SECRET, raw),
        }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, data=raw, content_type="application/json", **headers)

    return deliver


@pytest.fixture
def reviewed(make_analysis) -> Analysis:
    """A completed review of electron/electron (the payloads' repository) with its check run."""
    source = payload("check_run.requested_action.json")
    return make_analysis(
        repo_full_name=source["repository"]["full_name"],
        pr_number=source["check_run"]["pull_requests"][0]["number"],
        head_sha=source["check_run"]["head_sha"],
        status=Analysis.Status.COMPLETED,
        check_run_id=CHECK_RUN_ID,
    )


def _on(name: str, analysis: Analysis, **run: Any) -> dict[str, Any]:
    body = payload(name)
    body["check_run"].update({"id": CHECK_RUN_ID, "external_id": str(analysis.id), **run})
    body["repository"]["full_name"] = analysis.repo_full_name
    if body["action"] == "requested_action":
        body["requested_action"] = {"identifier": "rerun"}
    return body


def test_the_rerun_button_queues_a_rerun_of_the_head(deliver, broker, reviewed):
    response = deliver(_on("check_run.requested_action.json", reviewed), delivery_id="cr-1")

    assert response.status_code == 202
    rerun = Analysis.objects.get(rerun_of=reviewed)
    assert response.json() == {"status": "queued", "analysis_id": rerun.id}
    assert (rerun.head_sha, rerun.pr_number, rerun.status) == (
        reviewed.head_sha,
        reviewed.pr_number,
        Analysis.Status.QUEUED,
    )
    assert (rerun.delivery_id, rerun.action) == ("cr-1", "rerun")
    broker.assert_called_once_with((rerun.id,))


def test_a_rerequested_check_run_queues_a_rerun(deliver, broker, reviewed):
    response = deliver(_on("check_run.rerequested.json", reviewed))

    assert response.status_code == 202
    assert Analysis.objects.filter(rerun_of=reviewed).count() == 1


def test_the_same_delivery_twice_queues_one_rerun(deliver, broker, reviewed):
    body = _on("check_run.requested_action.json", reviewed)

    first = deliver(body, delivery_id="cr-same")
    again = deliver(body, delivery_id="cr-same")

    assert first.status_code == 202
    assert again.json() == {"status": "duplicate", "analysis_id": first.json()["analysis_id"]}
    assert Analysis.objects.filter(rerun_of=reviewed).count() == 1
    broker.assert_called_once()


def test_a_second_click_while_the_rerun_waits_buys_no_second_review(deliver, broker, reviewed):
    first = deliver(_on("check_run.requested_action.json", reviewed))
    second = deliver(_on("check_run.rerequested.json", reviewed))

    assert second.json() == {"status": "duplicate", "analysis_id": first.json()["analysis_id"]}
    assert Analysis.objects.filter(rerun_of__isnull=False).count() == 1


def test_another_apps_button_is_ignored(deliver, broker, reviewed):
    body = _on("check_run.requested_action.json", reviewed)
    body["requested_action"] = {"identifier": "lgtm|26764"}  # the payload's own

    response = deliver(body)

    assert response.json() == {
        "status": "ignored",
        "reason": "requested action 'lgtm|26764' is not Prism's",
    }
    assert not Analysis.objects.filter(rerun_of__isnull=False).exists()


@pytest.mark.parametrize(
    "change",
    [
        {"external_id": ""},  # the real payload's: not a check run Prism created
        {"id": 99},  # another check run naming our analysis
    ],
)
def test_a_check_run_that_is_not_prisms_is_ignored(deliver, broker, reviewed, change):
    body = _on("check_run.rerequested.json", reviewed, **change)

    response = deliver(body)

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert not Analysis.objects.filter(rerun_of__isnull=False).exists()
    broker.assert_not_called()


def test_a_check_run_of_another_repository_is_ignored(deliver, broker, reviewed):
    body = _on("check_run.rerequested.json", reviewed)
    body["repository"]["full_name"] = "someone/else"

    assert deliver(body).json()["status"] == "ignored"
    assert not Analysis.objects.filter(rerun_of__isnull=False).exists()


def test_other_check_run_actions_are_ignored(deliver, broker, reviewed):
    body = _on("check_run.rerequested.json", reviewed)
    body["action"] = "completed"

    response = deliver(body)

    assert response.json() == {
        "status": "ignored",
        "reason": "check_run action 'completed' is not acted on",
    }


def test_in_app_mode_a_rerun_keeps_the_installation(deliver, broker, reviewed, settings):
    settings.GITHUB_APP_ID = "12345"
    settings.GITHUB_APP_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"
    body = _on("check_run.requested_action.json", reviewed)
    installation = Installation.objects.create(id=body["installation"]["id"], account_login="e")
    Repository.objects.create(installation=installation, full_name=reviewed.repo_full_name)
    Analysis.objects.filter(pk=reviewed.pk).update(installation_id=installation.id)

    response = deliver(body)

    assert response.status_code == 202
    assert Analysis.objects.get(rerun_of=reviewed).installation_id == installation.id


def test_in_app_mode_a_removed_repository_gets_no_rerun(deliver, broker, reviewed, settings):
    settings.GITHUB_APP_ID = "12345"
    settings.GITHUB_APP_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"

    response = deliver(_on("check_run.requested_action.json", reviewed))

    assert response.json()["status"] == "ignored"
    assert "not installed" in response.json()["reason"]
    assert not Analysis.objects.filter(rerun_of__isnull=False).exists()
