"""The App's installation deliveries keep the allow-list, and pull requests outside it are
ignored: the real payloads, signed and posted to the webhook."""

import json
import uuid

import pytest

from reviews.github import signatures
from reviews.models import (
    Analysis,
    FeedbackRead,
    Installation,
    InstallationEvent,
    Repository,
)
from tests.fixtures import payload, payload_bytes

pytestmark = pytest.mark.django_db

SECRET = "test-webhook-secret"
URL = "/webhooks/github/"


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def deliver(body: bytes, *, event: str, delivery_id: str | None = None):
        headers = {
            "HTTP_X_GITHUB_EVENT": event,
            "HTTP_X_GITHUB_DELIVERY": delivery_id or str(uuid.uuid4()),
            "HTTP_X_HUB_SIGNATURE_256": signatures.sign(SECRET, body),
        }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, data=body, content_type="application/json", **headers)

    return deliver


def replay(deliver, name: str, **kwargs):
    event = name.split(".")[0]
    return deliver(payload_bytes(name), event=event, **kwargs)


def test_an_installation_created_records_it_and_its_repositories(app_mode, deliver):
    response = replay(deliver, "installation.created.json", delivery_id="i-1")

    assert response.status_code == 200
    assert response.json() == {
        "status": "applied",
        "detail": "installed on Codertocat; added Codertocat/Hello-World (enabled)",
    }
    installation = Installation.objects.get()
    assert (installation.id, installation.account_login, installation.account_type) == (
        957387,
        "Codertocat",
        "User",
    )
    assert not installation.suspended
    repository = Repository.objects.get()
    assert (repository.full_name, repository.github_id, repository.enabled) == (
        "Codertocat/Hello-World",
        186853002,
        True,
    )
    assert repository.installation_id == 957387
    assert (repository.model, repository.daily_budget, repository.monthly_budget) == (
        "",
        None,
        None,
    )
    event = InstallationEvent.objects.get()
    assert (event.delivery_id, event.action, event.installation_id) == ("i-1", "created", 957387)


def test_new_repositories_wait_for_an_operator_when_auto_enable_is_off(app_mode, deliver, settings):
    settings.AUTO_ENABLE_NEW_REPOS = False

    replay(deliver, "installation.created.json")
    response = replay(deliver, "installation_repositories.added.json")

    assert response.json()["detail"] == "added Codertocat/Space (disabled)"
    assert dict(Repository.objects.values_list("full_name", "enabled")) == {
        "Codertocat/Hello-World": False,
        "Codertocat/Space": False,
    }


def test_a_redelivered_installation_delivery_is_applied_once(app_mode, deliver):
    replay(deliver, "installation.created.json", delivery_id="i-1")
    replay(deliver, "installation_repositories.added.json", delivery_id="i-2")
    removed = payload("installation_repositories.added.json")
    removed.update(
        action="removed",
        repositories_removed=removed.pop("repositories_added"),
        repositories_added=[],
    )
    deliver(json.dumps(removed).encode(), event="installation_repositories", delivery_id="i-3")

    # GitHub's redelivery of the old "added" must not bring the repository back.
    again = replay(deliver, "installation_repositories.added.json", delivery_id="i-2")

    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "detail": "delivery i-2 was already applied"}
    assert list(Repository.objects.values_list("full_name", flat=True)) == [
        "Codertocat/Hello-World"
    ]
    assert InstallationEvent.objects.count() == 3


def test_suspend_and_unsuspend_follow_github(app_mode, deliver):
    response = replay(deliver, "installation.suspend.json")

    installation = Installation.objects.get(id=16598467)
    assert response.json()["detail"] == "suspended Codertocat"
    assert installation.suspended_at is not None
    assert installation.suspended_at.isoformat() == "2021-04-29T02:32:50+00:00"

    replay(deliver, "installation.unsuspend.json")
    installation.refresh_from_db()
    assert not installation.suspended


def test_new_permissions_accepted_updates_the_installation_and_keeps_the_operators_settings(
    app_mode, deliver
):
    replay(deliver, "installation.created.json")
    Repository.objects.update(enabled=False, model="openai/gpt-4o", daily_budget="5.00")

    response = replay(deliver, "installation.new_permissions_accepted.json")

    assert response.json()["detail"] == "Codertocat accepted new permissions"
    repository = Repository.objects.get()
    assert (repository.enabled, repository.model, str(repository.daily_budget)) == (
        False,
        "openai/gpt-4o",
        "5.00",
    )


def test_a_deleted_installation_takes_its_repositories_along(app_mode, deliver):
    removed = payload("installation_repositories.removed.json")
    removed.update(action="added", repositories_added=removed["repositories_removed"])
    deliver(json.dumps(removed).encode(), event="installation_repositories")
    assert Repository.objects.filter(installation_id=2).exists()

    response = replay(deliver, "installation.deleted.json")

    assert response.json()["detail"] == "deleted installation 2 and 1 repositories"
    assert not Installation.objects.filter(id=2).exists()
    assert not Repository.objects.exists()


def test_removed_repositories_lose_their_rows(app_mode, deliver):
    removed = payload("installation_repositories.removed.json")
    added = {**removed, "action": "added", "repositories_added": removed["repositories_removed"]}
    deliver(json.dumps(added).encode(), event="installation_repositories")

    response = replay(deliver, "installation_repositories.removed.json")

    assert response.json()["detail"] == "removed octocat/Hello-World"
    assert not Repository.objects.exists()


def test_installation_deliveries_are_ignored_in_personal_token_mode(deliver):
    response = replay(deliver, "installation.created.json")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ignored",
        "reason": "Prism is not running as a GitHub App",
    }
    assert not Installation.objects.exists()


def test_an_unhandled_installation_action_is_ignored(app_mode, deliver):
    body = {**payload("installation.created.json"), "action": "transferred"}

    response = deliver(json.dumps(body).encode(), event="installation")

    assert response.json() == {
        "status": "ignored",
        "reason": "installation action 'transferred' is not handled",
    }


def test_an_installation_delivery_without_an_installation_is_refused(app_mode, deliver):
    body = {**payload("installation.created.json")}
    del body["installation"]

    response = deliver(json.dumps(body).encode(), event="installation")

    assert response.status_code == 400
    assert response.json() == {"detail": "the payload is missing installation"}


def test_an_installation_delivery_with_a_bad_signature_is_refused(app_mode, client):
    response = client.post(
        URL,
        data=payload_bytes("installation.created.json"),
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="installation",
        HTTP_X_GITHUB_DELIVERY="i-1",
        HTTP_X_HUB_SIGNATURE_256="sha256=" + "0" * 64,
    )

    assert response.status_code == 401
    assert not Installation.objects.exists()


# Pull requests against the allow-list. The real payload was sent for installation 1 and
# Codertocat/Hello-World.
PR = "pull_request.ready_for_review.with-installation.json"


def install_hello_world(**repository):
    installation = Installation.objects.create(id=1, account_login="Codertocat")
    Repository.objects.create(
        installation=installation, full_name="Codertocat/Hello-World", **repository
    )
    return installation


def test_a_pull_request_of_an_installed_repository_is_queued_with_its_installation(
    app_mode, deliver, broker
):
    install_hello_world()

    response = deliver(payload_bytes(PR), event="pull_request")

    assert response.status_code == 202
    analysis = Analysis.objects.get()
    assert analysis.installation_id == 1
    broker.assert_called_once_with((analysis.id,))


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda: None, "repository Codertocat/Hello-World is not installed for installation 1"),
        (
            lambda: install_hello_world(enabled=False),
            "repository Codertocat/Hello-World is disabled",
        ),
        (
            lambda: Installation.objects.filter(id=install_hello_world().id).update(
                suspended_at="2026-11-30T00:00:00Z"
            ),
            "installation 1 (Codertocat) is suspended",
        ),
        (
            lambda: Repository.objects.create(
                installation=Installation.objects.create(id=99, account_login="other"),
                full_name="Codertocat/Hello-World",
            ),
            "repository Codertocat/Hello-World is not installed for installation 1",
        ),
    ],
    ids=["not-installed", "disabled", "suspended", "other-installation"],
)
def test_a_pull_request_outside_the_allow_list_is_ignored_with_its_reason(
    app_mode, deliver, broker, setup, reason
):
    setup()

    response = deliver(payload_bytes(PR), event="pull_request")

    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": reason}
    assert not Analysis.objects.exists()
    broker.assert_not_called()


def test_a_closed_pull_request_outside_the_allow_list_has_no_feedback_read(
    app_mode, deliver, broker
):
    # The allow-list covers every delivery that would make Prism act, not only reviews.
    body = payload(PR)
    body["action"] = "closed"
    body["pull_request"]["state"] = "closed"

    response = deliver(json.dumps(body).encode(), event="pull_request")

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert "not installed" in response.json()["reason"]
    assert not FeedbackRead.objects.exists()
    broker.assert_not_called()


def test_a_repository_webhook_delivery_is_ignored_in_app_mode(app_mode, deliver, broker):
    install_hello_world()
    body = payload(PR)
    del body["installation"]

    response = deliver(json.dumps(body).encode(), event="pull_request")

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert "names no installation" in response.json()["reason"]
    broker.assert_not_called()


def test_personal_token_mode_reviews_without_an_allow_list(deliver, broker):
    response = deliver(payload_bytes(PR), event="pull_request")

    assert response.status_code == 202
    assert Analysis.objects.get().installation_id is None


def test_a_rerun_keeps_the_installation(make_analysis):
    from reviews import services

    analysis = make_analysis(installation_id=57, status=Analysis.Status.FAILED)

    assert services.analysis_rerun(analysis=analysis).installation_id == 57


def test_a_renamed_repository_is_known_by_its_id(app_mode, deliver, broker):
    installation = Installation.objects.create(id=1, account_login="Codertocat")
    Repository.objects.create(
        installation=installation, github_id=186853002, full_name="Codertocat/Old-Name"
    )

    response = deliver(payload_bytes(PR), event="pull_request")

    assert response.status_code == 202
    assert Analysis.objects.get().repo_full_name == "Codertocat/Hello-World"


def test_a_repository_created_again_under_its_old_name_keeps_its_row(app_mode, deliver, broker):
    installation = Installation.objects.create(id=1, account_login="Codertocat")
    Repository.objects.create(
        installation=installation, github_id=5, full_name="Codertocat/Hello-World", enabled=False
    )

    response = deliver(payload_bytes(PR), event="pull_request")

    assert response.json() == {
        "status": "ignored",
        "reason": "repository Codertocat/Hello-World is disabled",
    }
    broker.assert_not_called()


@pytest.mark.parametrize(
    "name",
    [
        "installation.new_permissions_accepted.json",
        "installation.suspend.json",
        "installation.deleted.json",
        "installation_repositories.added.json",
    ],
)
def test_a_cached_token_is_dropped_when_its_installation_changes(app_mode, deliver, name):
    from django.core.cache import cache

    installation_id = payload(name)["installation"]["id"]
    key = f"prism:github-app:4242:installation-token:{installation_id}"
    cache.set(key, {"token": "sealed", "expires_at": 9e9})

    replay(deliver, name)

    assert cache.get(key) is None
