"""The GitHub stand-in as GitHub serves a GitHub App: JWTs, installations, installation tokens.

Everything `FakeGitHub` serves, authenticated the App's way instead of with one token:
- `/app` and `/app/installations...` take only the App's JWT, checked with the App's public
  key (RS256, issuer the App id, issued in the past, at most ten minutes of life);
- `POST /app/installations/{id}/access_tokens` issues a fresh opaque token for one
  installation, valid an hour;
- every other call takes only an installation token, and only for its own installation's
  repositories: another organisation's repository is a 404, as on GitHub; `/user` is a 403
  ("Resource not accessible by integration");
- `expire_tokens(installation_id, after=n)` makes the installation's live tokens stop working
  after n more requests (401 "Bad credentials"), as a token that expires or is revoked
  mid-review.
"""

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from tests.e2e.fake_github import FakeGitHub, Request, _json

_REPO_PATH = re.compile(r"/repos/([^/]+/[^/]+)(?:/.*)?")
_TOKEN_PATH = re.compile(r"/app/installations/(\d+)/access_tokens")


@dataclass
class Installation:
    id: int
    account: str
    account_type: str = "Organization"
    repositories: dict[str, int] = field(default_factory=dict)  # full name -> repository id


@dataclass
class Token:
    installation_id: int
    expires_at: float
    uses_left: int | None = None  # None: until it expires
    refused: int = 0


class FakeGitHubApp(FakeGitHub):
    serves_check_runs = True  # an App's installation token may create them

    def __init__(self, *, app_id: int, slug: str, public_key: Any) -> None:
        super().__init__(token="")  # no personal token is ever accepted
        self.app_id, self.slug, self.public_key = app_id, slug, public_key
        self.bot_login = f"{slug}[bot]"
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.issued: list[tuple[int, str]] = []  # (installation id, token), in order

    # --- setting the scene ------------------------------------------------------------------

    def install(self, installation_id: int, account: str, *repos: str) -> Installation:
        installation = Installation(installation_id, account)
        for number, name in enumerate(repos, start=1):
            installation.repositories[name] = installation_id * 1000 + number
        with self.lock:
            self.installations[installation_id] = installation
        return installation

    def remove_repository(self, installation_id: int, repo: str) -> None:
        with self.lock:
            del self.installations[installation_id].repositories[repo]

    def expire_tokens(self, installation_id: int, *, after: int) -> None:
        """The installation's live tokens answer `after` more requests, then 401."""
        with self.lock:
            for token in self.tokens.values():
                if token.installation_id == installation_id:
                    token.uses_left = after

    # --- reading what happened --------------------------------------------------------------

    def installation_of_request(self, request: Request) -> int | None:
        entry = self.tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        return entry.installation_id if entry else None

    def refused_tokens(self) -> int:
        with self.lock:
            return sum(token.refused for token in self.tokens.values())

    # --- answering --------------------------------------------------------------------------

    def deny(self, request: Request) -> tuple[int, dict[str, str], bytes] | None:
        credential = request.headers.get("authorization", "").removeprefix("Bearer ")
        if request.path == "/app" or request.path.startswith("/app/"):
            return None if self._valid_jwt(credential) else _bad_credentials()
        with self.lock:
            token = self.tokens.get(credential)
            if token is None or token.expires_at <= time.time() or token.uses_left == 0:
                if token is not None:
                    token.refused += 1
                return _bad_credentials()
            if token.uses_left is not None:
                token.uses_left -= 1
            installation = self.installations.get(token.installation_id)
        if installation is None:
            return _bad_credentials()
        if request.path == "/user":
            return _json(403, {"message": "Resource not accessible by integration"})
        repo = self._repository_of(request)
        if repo is not None and repo not in installation.repositories:
            return _json(404, {"message": "Not Found"})
        return None

    def answer(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        denied = self.deny(request)
        if denied is not None:
            return denied
        if request.method == "GET" and request.path == "/app":
            return _json(200, {"id": self.app_id, "slug": self.slug, "name": self.slug})
        if request.method == "GET" and request.path == "/app/installations":
            return self._page(request, [self._installation_json(i) for i in self._listed()])
        match = _TOKEN_PATH.fullmatch(request.path)
        if request.method == "POST" and match:
            return self._issue(int(match[1]))
        if request.method == "GET" and request.path == "/installation/repositories":
            return self._installation_repositories(request)
        return self.route(request)

    def _valid_jwt(self, credential: str) -> bool:
        try:
            claims = jwt.decode(
                credential,
                self.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
            )
        except jwt.PyJWTError:
            return False
        return str(claims["iss"]) == str(self.app_id) and claims["exp"] - claims["iat"] <= 600

    def _issue(self, installation_id: int) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            if installation_id not in self.installations:
                return _json(404, {"message": "Not Found"})
            # Opaque, and longer than today's 40 characters: Prism must not assume a length.
            token = f"ghs_{secrets.token_urlsafe(60)}"
            expires_at = time.time() + 3600
            self.tokens[token] = Token(installation_id, expires_at)
            self.issued.append((installation_id, token))
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))
        body = {"token": token, "expires_at": expires, "repository_selection": "selected"}
        return 201, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _installation_repositories(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        installation_id = self.installation_of_request(request)
        installation = self.installations[installation_id] if installation_id else None
        repos = installation.repositories.items() if installation else []
        items = [{"id": repo_id, "full_name": name} for name, repo_id in repos]
        status, headers, body = self._page(request, items)
        wrapped = {"total_count": len(items), "repositories": json.loads(body)}
        return status, headers, json.dumps(wrapped).encode()

    def _listed(self) -> list[Installation]:
        with self.lock:
            return list(self.installations.values())

    def _installation_json(self, installation: Installation) -> dict[str, Any]:
        return {
            "id": installation.id,
            "account": {"login": installation.account, "type": installation.account_type},
            "suspended_at": None,
        }

    @staticmethod
    def _repository_of(request: Request) -> str | None:
        match = _REPO_PATH.fullmatch(request.path)
        if match:
            return match[1]
        if request.path == "/graphql" and request.body:
            variables = json.loads(request.body).get("variables") or {}
            if "owner" in variables and "name" in variables:
                return f"{variables['owner']}/{variables['name']}"
        return None


def _bad_credentials() -> tuple[int, dict[str, str], bytes]:
    return _json(401, {"message": "Bad credentials"})
