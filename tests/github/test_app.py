"""The App's JWT and its App-level calls, against GitHub's REST description."""

import jwt
import pytest
import responses

from reviews.github.app import (
    JWT_BACKDATE_SECONDS,
    JWT_LIFETIME_SECONDS,
    AppClient,
    InstallationClient,
    app_jwt,
    parse_time,
)
from reviews.github.client import GitHubClient, GitHubError
from tests.fixtures import github_response
from tests.openapi import assert_valid_request

API = "https://api.github.test"
NOW = 1_700_000_000.0


def test_the_jwt_is_rs256_signed_by_the_app_key_back_dated_a_minute_for_nine(app_private_key):
    pem, public_key = app_private_key

    token = app_jwt("4242", pem, now=NOW)

    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, public_key, algorithms=["RS256"], options={"verify_exp": False})
    assert claims == {
        "iat": int(NOW) - JWT_BACKDATE_SECONDS,
        "exp": int(NOW) - JWT_BACKDATE_SECONDS + JWT_LIFETIME_SECONDS,
        "iss": "4242",
    }
    assert claims["exp"] - NOW <= 10 * 60  # GitHub refuses JWTs living over ten minutes


def test_a_jwt_signed_by_another_key_does_not_verify(app_private_key):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(app_jwt("4242", other_pem), app_private_key[1], algorithms=["RS256"])


def test_an_unusable_key_is_a_permanent_error_that_quotes_nothing_of_it():
    key = (
        "-----BEGIN PRIVATE KEY-----\nTm90QUtleUF0QWxsU2VjcmV0TWF0ZXJpYWw=\n"
        "-----END PRIVATE KEY-----\n"
    )

    with pytest.raises(GitHubError) as caught:
        app_jwt("4242", key)

    assert caught.value.permanent
    assert "Tm90QUtleUF0" not in str(caught.value)
    assert caught.value.__cause__ is None


def app_client(pem: str) -> AppClient:
    return AppClient(base_url=API, token=app_jwt("4242", pem, now=NOW), clock=lambda: NOW)


@responses.activate(assert_all_requests_are_fired=True)
def test_an_installation_token_is_asked_for_with_the_jwt(app_private_key):
    pem, public_key = app_private_key
    answer = github_response("apps.create-installation-access-token.201.default.json")
    answer["token"] = "ghs_" + "x" * 400  # opaque, of any length
    responses.post(f"{API}/app/installations/957387/access_tokens", json=answer, status=201)

    issued = app_client(pem).create_installation_token(957387)

    assert issued.token == answer["token"]
    assert issued.expires_at == parse_time("2016-07-11T22:14:10Z") == 1468275250.0
    request = responses.calls[0].request
    assert_valid_request(request)
    assert request.body is None  # every permission and repository the installation has
    scheme, _, sent = request.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    assert jwt.decode(sent, public_key, algorithms=["RS256"], options={"verify_exp": False})[
        "iss"
    ] == ("4242")
    assert answer["token"] not in repr(issued)


@responses.activate(assert_all_requests_are_fired=True)
def test_a_token_answer_without_a_token_is_an_error(app_private_key):
    responses.post(f"{API}/app/installations/1/access_tokens", json={"message": "?"}, status=201)

    with pytest.raises(GitHubError, match="without a token"):
        app_client(app_private_key[0]).create_installation_token(1)


@responses.activate(assert_all_requests_are_fired=True)
def test_a_suspended_installation_is_refused_permanently(app_private_key):
    responses.post(
        f"{API}/app/installations/1/access_tokens",
        json={"message": "This installation has been suspended"},
        status=403,
    )

    with pytest.raises(GitHubError) as caught:
        app_client(app_private_key[0]).create_installation_token(1)

    assert caught.value.permanent and caught.value.status == 403


@responses.activate(assert_all_requests_are_fired=True)
def test_the_bot_login_is_the_app_slug_with_bot(app_private_key):
    responses.get(f"{API}/app", json=github_response("apps.get-authenticated.200.default.json"))

    assert app_client(app_private_key[0]).bot_login() == "octoapp[bot]"
    assert_valid_request(responses.calls[0].request)


@responses.activate(assert_all_requests_are_fired=True)
def test_installations_are_listed_page_by_page(app_private_key):
    first = github_response("apps.list-installations.200.default.json")
    second = [{**first[0], "id": 2, "account": {"login": "acme", "type": "Organization"}}]
    second[0]["suspended_at"] = "2026-11-30T10:00:00Z"
    responses.get(
        f"{API}/app/installations",
        json=first,
        headers={"Link": f'<{API}/app/installations?per_page=100&page=2>; rel="next"'},
        match=[responses.matchers.query_param_matcher({"per_page": "100"})],
    )
    responses.get(
        f"{API}/app/installations",
        json=second,
        match=[responses.matchers.query_param_matcher({"per_page": "100", "page": "2"})],
    )

    listed = list(app_client(app_private_key[0]).list_installations())

    assert [(i.id, i.account_login, i.account_type, i.suspended_at) for i in listed] == [
        (1, "octocat", "User", None),
        (2, "acme", "Organization", "2026-11-30T10:00:00Z"),
    ]
    for call in responses.calls:
        assert_valid_request(call.request)


@responses.activate(assert_all_requests_are_fired=True)
def test_an_installation_lists_its_repositories_page_by_page():
    first = github_response("apps.list-repos-accessible-to-installation.200.default.json")
    second = {
        "total_count": 2,
        "repositories": [{**first["repositories"][0], "id": 7, "full_name": "octocat/Spoon"}],
    }
    responses.get(
        f"{API}/installation/repositories",
        json=first,
        headers={"Link": f'<{API}/installation/repositories?per_page=100&page=2>; rel="next"'},
        match=[responses.matchers.query_param_matcher({"per_page": "100"})],
    )
    responses.get(f"{API}/installation/repositories", json=second)

    client = InstallationClient(base_url=API, token="ghs_installation")
    listed = [(repo.id, repo.full_name) for repo in client.list_repositories()]

    assert listed == [(1296269, "octocat/Hello-World"), (7, "octocat/Spoon")]
    assert responses.calls[0].request.headers["Authorization"] == "Bearer ghs_installation"
    for call in responses.calls:
        assert_valid_request(call.request)


@responses.activate(assert_all_requests_are_fired=True)
def test_a_401_asks_for_a_new_token_once_and_retries_with_it():
    url = f"{API}/repos/octo/widgets/pulls/7"
    pr = github_response("pulls.get.200.default.json")
    responses.get(url, json={"message": "Bad credentials"}, status=401)
    responses.get(url, json=pr)
    asked: list[str] = []

    def refresh(stale: str) -> str:
        asked.append(stale)
        return "ghs_fresh"

    client = GitHubClient(base_url=API, token="ghs_stale", refresh_token=refresh)
    client.get_pull_request("octo/widgets", 7)

    assert asked == ["ghs_stale"]
    sent = [call.request.headers["Authorization"] for call in responses.calls]
    assert sent == ["Bearer ghs_stale", "Bearer ghs_fresh"]


@responses.activate(assert_all_requests_are_fired=True)
def test_a_second_401_after_the_refresh_is_a_permanent_error_without_the_token():
    url = f"{API}/repos/octo/widgets/pulls/7"
    responses.get(url, json={"message": "Bad credentials ghs_fresh"}, status=401)
    responses.get(url, json={"message": "Bad credentials ghs_fresh"}, status=401)
    client = GitHubClient(base_url=API, token="ghs_stale", refresh_token=lambda _: "ghs_fresh")

    with pytest.raises(GitHubError) as caught:
        client.get_pull_request("octo/widgets", 7)

    assert caught.value.permanent and caught.value.status == 401
    assert "ghs_fresh" not in str(caught.value)
    assert len(responses.calls) == 2


@responses.activate(assert_all_requests_are_fired=True)
def test_without_a_refresher_a_401_fails_at_once():
    responses.get(f"{API}/repos/octo/widgets/pulls/7", json={"message": "Bad"}, status=401)

    with pytest.raises(GitHubError):
        GitHubClient(base_url=API, token="ghp_personal").get_pull_request("octo/widgets", 7)

    assert len(responses.calls) == 1


def test_a_known_login_is_not_asked_of_get_user():
    client = GitHubClient(base_url=API, token="ghs_x", login="prism-review[bot]")

    assert client.authenticated_login() == "prism-review[bot]"  # no request: none registered
