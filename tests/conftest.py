import os
from unittest import mock

import pytest
import responses
from django.db import connection
from hypothesis import settings as hypothesis_settings

from tests import stubs
from tests.graphql_schema import assert_valid_graphql_request
from tests.openapi import assert_valid_request

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# CI replays the same property-test examples on every run, so a commit that passed stays green;
# exploring new inputs is for development runs, which keep a random seed (and the examples
# they find are added with @example).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    hypothesis_settings.load_profile("ci")


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL and Redis tests on a bare laptop; CI must run them, so it stops instead."""
    from django.conf import settings

    available = {
        "postgres": connection.vendor == "postgresql",
        "redis": settings.CELERY_BROKER_URL.startswith("redis://"),
    }
    for marker, setting in (("postgres", "DATABASE_URL"), ("redis", "CELERY_BROKER_URL")):
        needing = [item for item in items if marker in item.keywords]
        if not needing or available[marker]:
            continue
        if IN_CI:
            raise pytest.UsageError(
                f"{len(needing)} tests need {marker} and CI never skips them: set {setting}"
            )
        for item in needing:
            item.add_marker(pytest.mark.skip(reason=f"needs {setting} pointing at {marker}"))


@pytest.fixture(autouse=True)
def _forget_github_identities(monkeypatch):
    """Each test learns Prism's GitHub login afresh (the client caches it per process)."""
    monkeypatch.setattr("reviews.github.client._LOGINS", {})


@pytest.fixture(autouse=True)
def _open_model_gates():
    """Each test starts with every model's rate-limit gate open and every call slot free:
    they are shared by the whole process (reviews/llm/throttle.py)."""
    from reviews.llm import throttle

    throttle.reset()
    yield
    throttle.reset()


@pytest.fixture(autouse=True)
def _fresh_github_pacer():
    """Each test paces GitHub writes in windows of its own (the pacer is one per process)."""
    from reviews import clients

    clients.github_pacer.cache_clear()
    yield
    clients.github_pacer.cache_clear()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: repository policies are cached across reviews."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_analysis(db):
    """An Analysis as a webhook would have recorded it; override any field.

    A completed one with findings in its feedback has them in the findings ledger too, as
    the pipeline leaves it (`ledger=False` for one stored before the ledger existed).
    """
    from reviews import ledger as findings_ledger
    from reviews.models import Analysis

    counter = iter(range(1, 1_000_000))

    def make(*, ledger=True, **fields):
        n = next(counter)
        defaults = {
            "delivery_id": f"delivery-{n}",
            "event": "pull_request",
            "action": "opened",
            "repo_full_name": "octo/widgets",
            "pr_number": 7,
            "pr_title": "Add widgets",
            "pr_url": "https://github.com/octo/widgets/pull/7",
            "pr_author": "octocat",
            "head_sha": f"{n:040x}",
            "base_sha": "b" * 40,
        }
        defaults.update(fields)
        analysis = Analysis.objects.create(**defaults)
        if ledger and analysis.status == Analysis.Status.COMPLETED and analysis.result.findings:
            findings_ledger.findings_record(analysis=analysis, result=analysis.result)
        return analysis

    return make


@pytest.fixture
def broker():
    """The broker, stood in for: every review handed to it is a call of this mock.

    `broker.assert_called_once_with((analysis_id,))`; `broker.side_effect = OSError(...)`
    for a broker that refuses.
    """
    with mock.patch("reviews.tasks.review_pull_request.apply_async") as apply_async:
        yield apply_async


@pytest.fixture
def staff_client(client, admin_user):
    """A browser session of a logged-in staff member (a superuser): the admin, the API."""
    client.force_login(admin_user)
    return client


@pytest.fixture(scope="session")
def app_private_key():
    """A real RSA key pair for a test GitHub App, generated for the session: (PEM, public key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


APP_ID = "4242"


@pytest.fixture
def app_mode(settings, app_private_key):
    """Prism as GitHub App 4242 (with the session's generated key); returns the public key
    that verifies its JWTs. In this mode only installed, enabled repositories are reviewed."""
    settings.GITHUB_APP_ID = APP_ID
    settings.GITHUB_APP_PRIVATE_KEY = app_private_key[0]
    return app_private_key[1]


@pytest.fixture
def http():
    """GitHub and the model at the transport; every request sent to GitHub must be valid."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        # Inside the block: leaving it resets the recorded calls.
        for call in mock.calls:
            url = call.request.url or ""
            if url == stubs.GRAPHQL_API:
                assert_valid_graphql_request(call.request)
            elif url.startswith(stubs.API):
                assert_valid_request(call.request)
