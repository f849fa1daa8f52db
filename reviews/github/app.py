"""GitHub App authentication: the App's JWT, installation tokens, and the App-level calls.

An App proves who it is with a short JWT signed by its private key (RS256), and trades it
for an installation access token, which is what every repository call then uses:
https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/about-authentication-with-a-github-app

No Django imports: the caller passes the App id, its key and the clock. Caching the tokens
is reviews/installations/tokens.py's job.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

from reviews.github.errors import GitHubError, json_object
from reviews.github.transport import Transport

# GitHub allows at most 10 minutes of life, and advises back-dating `iat` by 60 seconds
# against clock drift:
# https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
JWT_BACKDATE_SECONDS = 60
JWT_LIFETIME_SECONDS = 9 * 60


@dataclass(frozen=True)
class InstallationToken:
    """An installation access token (opaque, any length) and when it stops working (epoch
    seconds)."""

    token: str
    expires_at: float

    def __repr__(self) -> str:  # a token must never reach a log line through a repr
        return f"InstallationToken(expires_at={self.expires_at})"


@dataclass(frozen=True)
class AppInstallation:
    id: int
    account_login: str
    account_type: str
    suspended_at: str | None  # ISO 8601, as GitHub sends it


@dataclass(frozen=True)
class AppRepository:
    id: int
    full_name: str


def app_jwt(app_id: str, private_key: str, *, now: float | None = None) -> str:
    """The App's JWT: issued 60 s in the past, expiring 9 minutes later, issuer the App id."""
    issued = int(time.time() if now is None else now) - JWT_BACKDATE_SECONDS
    claims = {"iat": issued, "exp": issued + JWT_LIFETIME_SECONDS, "iss": str(app_id)}
    try:
        return jwt.encode(claims, private_key, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError):
        # Say which setting is wrong and nothing more: the cause could describe the key.
        raise GitHubError(
            "GITHUB_APP_PRIVATE_KEY is not a usable RSA private key", permanent=True
        ) from None


class AppClient(Transport):
    """Calls made as the App itself, authenticated with its JWT (`app_jwt`)."""

    def get_app(self) -> dict[str, Any]:
        """https://docs.github.com/rest/apps/apps#get-the-authenticated-app"""
        return json_object(self._request("GET", f"{self._base_url}/app"))

    def bot_login(self) -> str:
        """The login the App's comments and reviews appear under: `<slug>[bot]`."""
        slug = self.get_app().get("slug")
        if not isinstance(slug, str) or not slug:
            raise GitHubError("GitHub GET /app answered without a slug", permanent=False)
        return f"{slug}[bot]"

    def create_installation_token(self, installation_id: int) -> InstallationToken:
        """https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app

        No body: the token gets every permission and repository the installation has.
        """
        url = f"{self._base_url}/app/installations/{_id(installation_id)}/access_tokens"
        data = json_object(self._request("POST", url))
        token, expires_at = data.get("token"), data.get("expires_at")
        if not isinstance(token, str) or not token or not isinstance(expires_at, str):
            raise GitHubError(
                f"GitHub answered installation {installation_id}'s token request without a "
                "token and its expiry",
                permanent=False,
            )
        return InstallationToken(token=token, expires_at=parse_time(expires_at))

    def list_installations(self) -> Iterator[AppInstallation]:
        """https://docs.github.com/rest/apps/apps#list-installations-for-the-authenticated-app"""
        for page in self._pages(f"{self._base_url}/app/installations"):
            for item in page if isinstance(page, list) else []:
                yield installation(item)


class InstallationClient(Transport):
    """Calls made with an installation token about the installation itself."""

    def list_repositories(self) -> Iterator[AppRepository]:
        """https://docs.github.com/rest/apps/installations#list-repositories-accessible-to-the-app-installation"""
        # Pages of this endpoint are objects, {"total_count": n, "repositories": [...]}.
        page: Any
        for page in self._pages(f"{self._base_url}/installation/repositories"):
            items = page.get("repositories") if isinstance(page, dict) else None
            for item in items if isinstance(items, list) else []:
                yield repository(item)


def installation(data: dict[str, Any]) -> AppInstallation:
    """An installation as GitHub describes it, in a delivery or in GET /app/installations."""
    account: dict[str, Any] = data["account"] if isinstance(data.get("account"), dict) else {}
    installation_id = data.get("id")
    if isinstance(installation_id, bool) or not isinstance(installation_id, int):
        raise ValueError("installation.id must be an integer")
    suspended_at = data.get("suspended_at")
    return AppInstallation(
        id=installation_id,
        account_login=str(account.get("login") or account.get("slug") or "")[:100],
        account_type=str(account.get("type") or data.get("target_type") or "")[:16],
        suspended_at=suspended_at if isinstance(suspended_at, str) and suspended_at else None,
    )


def repository(data: dict[str, Any]) -> AppRepository:
    repository_id, full_name = data.get("id"), data.get("full_name")
    if isinstance(repository_id, bool) or not isinstance(repository_id, int):
        raise ValueError("repository.id must be an integer")
    if not isinstance(full_name, str) or "/" not in full_name:
        raise ValueError("repository.full_name must look like owner/name")
    return AppRepository(id=repository_id, full_name=full_name[:200])


def parse_time(value: str) -> float:
    """GitHub's ISO 8601 time (`2016-07-11T22:14:10Z`) as epoch seconds."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise GitHubError(
            f"GitHub sent an unreadable time {value[:40]!r}", permanent=False
        ) from exc


def _id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a positive installation id, not {value!r}")
    return value
