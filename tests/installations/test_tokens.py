"""Installation tokens: issued with the App's JWT, shared through the cache until 5 minutes
before they expire, replaced once on a 401; one installation's never serves another."""

import json

import jwt
import pytest
import responses
from django.core.cache import cache

from reviews import clients
from reviews.github.client import GitHubError
from reviews.installations import tokens
from reviews.models import Installation, Repository
from tests.conftest import APP_ID
from tests.fixtures import github_response
from tests.openapi import assert_valid_request

pytestmark = pytest.mark.django_db

API = "https://api.github.test"
T0 = 1_700_000_000.0  # the fake clock's start (in the past: the JWT's iat is checked)
HOUR = 3600.0


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenServer:
    """GitHub's access_tokens endpoint: a new token per request, valid an hour from `clock`."""

    def __init__(self, clock: FakeClock, public_key) -> None:
        self.clock = clock
        self.public_key = public_key
        self.issued: list[tuple[int, str]] = []

    def __call__(self, request):
        assert_valid_request(request)
        sent = request.headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(
            sent, self.public_key, algorithms=["RS256"], options={"verify_exp": False}
        )
        assert claims["iss"] == APP_ID
        assert claims["iat"] == int(self.clock.now) - 60
        installation_id = int(request.url.split("/")[-2])
        token = f"ghs_{installation_id}_{len(self.issued)}_" + "t" * 50
        self.issued.append((installation_id, token))
        body = github_response("apps.create-installation-access-token.201.default.json")
        body.update(token=token, expires_at=iso(self.clock.now + HOUR))
        return 201, {}, json.dumps(body)


@pytest.fixture
def token_server(app_mode, clock):
    server = TokenServer(clock, app_mode)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_callback(
            responses.POST,
            responses.matchers.re.compile(rf"{API}/app/installations/\d+/access_tokens"),
            callback=server,
        )
        mocked.server = server  # type: ignore[attr-defined]
        yield mocked


def test_a_token_is_issued_once_and_shared_until_five_minutes_before_it_expires(
    token_server, clock
):
    first = tokens.installation_token(11, clock=clock)
    clock.now += HOUR - 5 * 60 - 1
    again = tokens.installation_token(11, clock=clock)
    clock.now += 1  # now inside the last five minutes
    renewed = tokens.installation_token(11, clock=clock)

    assert first == again != renewed
    assert [token for _, token in token_server.server.issued] == [first, renewed]


def test_two_installations_never_share_a_token(token_server, clock):
    one = tokens.installation_token(11, clock=clock)
    other = tokens.installation_token(22, clock=clock)

    assert one != other
    assert tokens.installation_token(11, clock=clock) == one
    assert tokens.installation_token(22, clock=clock) == other
    assert [installation for installation, _ in token_server.server.issued] == [11, 22]


def test_a_refused_token_is_replaced_unless_another_process_already_did(token_server, clock):
    stale = tokens.installation_token(11, clock=clock)
    fresh = tokens.refresh(11, stale, clock=clock)
    # A second worker that still held the stale token gets the fresh one, not a third.
    assert tokens.refresh(11, stale, clock=clock) == fresh != stale
    assert len(token_server.server.issued) == 2


def test_the_cache_holds_the_token_sealed(token_server, clock):
    token = tokens.installation_token(11, clock=clock)

    stored = cache.get(f"prism:github-app:{APP_ID}:installation-token:11")

    assert token not in json.dumps(stored)
    assert stored["expires_at"] == T0 + HOUR


def test_a_token_sealed_under_another_secret_key_is_issued_again(token_server, clock, settings):
    tokens.installation_token(11, clock=clock)
    settings.SECRET_KEY = "another-secret-key-after-a-rotation"

    tokens.installation_token(11, clock=clock)

    assert len(token_server.server.issued) == 2


def test_a_deleted_installation_forgets_its_token(token_server, clock):
    tokens.installation_token(11, clock=clock)
    tokens.forget(11)
    tokens.installation_token(11, clock=clock)

    assert len(token_server.server.issued) == 2


@responses.activate(assert_all_requests_are_fired=True)
def test_the_bot_login_is_asked_of_github_once(app_mode):
    responses.get(f"{API}/app", json=github_response("apps.get-authenticated.200.default.json"))

    assert tokens.bot_login() == tokens.bot_login() == "octoapp[bot]"
    assert clients.bot_login() == "octoapp[bot]"
    assert len(responses.calls) == 1


def installed(installation_id: int, *repos: str) -> None:
    installation = Installation.objects.create(
        id=installation_id, account_login=f"org{installation_id}"
    )
    for name in repos:
        Repository.objects.create(installation=installation, full_name=name)


def test_a_review_client_acts_with_its_installation_token_and_refreshes_it_on_a_401(
    token_server, clock, monkeypatch
):
    monkeypatch.setattr(tokens, "installation_token", _with(tokens.installation_token, clock))
    monkeypatch.setattr(tokens, "refresh", _with(tokens.refresh, clock))
    cache.set(f"prism:github-app:{APP_ID}:bot-login", "prism-review[bot]")
    installed(11, "acme/api")
    installed(22, "globex/web")
    pr = github_response("pulls.get.200.default.json")
    token_server.get(
        f"{API}/repos/acme/api/pulls/1", json={"message": "Bad credentials"}, status=401
    )
    token_server.get(f"{API}/repos/acme/api/pulls/1", json=pr)
    token_server.get(f"{API}/repos/globex/web/pulls/1", json=pr)

    acme = clients.github_client_for("acme/api")
    globex = clients.github_client_for("globex/web", 22)
    acme.get_pull_request("acme/api", 1)
    globex.get_pull_request("globex/web", 1)

    issued = dict(reversed(token_server.server.issued))  # installation -> first token
    sent = [
        (call.request.url.split("/repos/")[1], call.request.headers["Authorization"])
        for call in token_server.calls
        if "/repos/" in call.request.url
    ]
    latest_acme = [
        token for installation, token in token_server.server.issued if installation == 11
    ][-1]
    assert sent == [
        ("acme/api/pulls/1", f"Bearer {issued[11]}"),
        ("acme/api/pulls/1", f"Bearer {latest_acme}"),
        ("globex/web/pulls/1", f"Bearer {issued[22]}"),
    ]
    assert latest_acme != issued[11]
    assert acme.authenticated_login() == "prism-review[bot]"


def _with(function, clock):
    return lambda *args, **kwargs: function(*args, clock=clock, **kwargs)


def test_a_repository_without_an_installation_cannot_be_reviewed_in_app_mode(app_mode):
    with pytest.raises(GitHubError) as caught:
        clients.github_client_for("acme/unknown")

    assert caught.value.permanent
    assert "install the App" in str(caught.value)


def test_personal_token_mode_keeps_using_github_token(settings):
    assert not clients.app_mode()
    assert clients.mode_description() == "personal token"
    client = clients.github_client_for("acme/api", 11)
    assert client._token == settings.GITHUB_TOKEN


def test_app_mode_is_described_with_the_app_id(app_mode):
    assert clients.app_mode()
    assert clients.mode_description() == f"GitHub App {APP_ID}"


def test_an_unreachable_cache_costs_a_token_per_client_not_the_review(
    token_server, clock, monkeypatch
):
    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)

    first = tokens.installation_token(11, clock=clock)
    second = tokens.installation_token(11, clock=clock)

    assert first != second
    assert len(token_server.server.issued) == 2


def test_an_installation_is_paced_as_one_identity_whatever_token_it_holds(
    token_server, clock, monkeypatch
):
    # GitHub counts an App's writes per installation: a new token (every hour, or after a
    # 401) must not open a fresh window of 80 writes.
    monkeypatch.setattr(tokens, "installation_token", _with(tokens.installation_token, clock))
    cache.set(f"prism:github-app:{APP_ID}:bot-login", "prism-review[bot]")

    first = clients.github_client(11)
    clock.now += 2 * HOUR  # the first token has expired: the next client holds a new one
    later = clients.github_client(11)
    other = clients.github_client(22)

    assert [token for _, token in token_server.server.issued][:2] == [
        first._token,
        later._token,
    ]
    assert first._token != later._token
    assert first._pacer is later._pacer is clients.github_pacer()
    assert first._identity == later._identity != other._identity
    assert first._token not in first._identity
