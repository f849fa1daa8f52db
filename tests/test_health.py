from unittest import mock

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker_without_authentication(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "mode": "personal token",
    }


def test_healthz_says_which_github_app_prism_acts_as(client, app_mode):
    assert client.get("/healthz").json()["mode"] == "GitHub App 4242"


def test_healthz_answers_503_when_the_broker_is_unreachable(client):
    with mock.patch("reviews.health.app.connection_for_write", side_effect=OSError("refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "unreachable"
    assert response.json()["database"] == "ok"


def test_healthz_answers_503_when_the_database_is_unreachable(client):
    with mock.patch("reviews.health.connection.cursor", side_effect=OSError("refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_healthz_answers_the_container_probe_whatever_the_public_host(client, settings):
    settings.ALLOWED_HOSTS = ["prism.example.com", "127.0.0.1"]
    assert client.get("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 200
