"""Installation access tokens, issued on demand and shared through the cache.

A token lives an hour; every worker and web process shares one per installation through
the Django cache (CACHE_URL), until 5 minutes before it expires, so a review never starts
with a token about to die. A token GitHub refuses anyway (401) is replaced once
(`refresh`). Tokens are kept encrypted with a key derived from SECRET_KEY: the cache is
shared infrastructure, and a token grants write access to an organisation's repositories.
"""

import base64
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.cache import cache

from reviews.github.app import AppClient, InstallationToken, app_jwt

logger = logging.getLogger(__name__)

# Refresh this long before `expires_at` (GitHub's tokens last an hour).
REFRESH_MARGIN_SECONDS = 5 * 60
BOT_LOGIN_SECONDS = 24 * 60 * 60

Clock = Callable[[], float]


def installation_token(installation_id: int, *, clock: Clock = time.time) -> str:
    """A token for `installation_id` with at least 5 minutes of life left."""
    cached = _cached(installation_id, clock)
    if cached is not None:
        return cached
    return _issue(installation_id, clock)


def refresh(installation_id: int, stale: str, *, clock: Clock = time.time) -> str:
    """A new token after GitHub refused `stale`; another process's newer one if it has
    already replaced it."""
    cached = _cached(installation_id, clock)
    if cached is not None and cached != stale:
        return cached
    logger.info("installation token refused; issuing another installation_id=%s", installation_id)
    return _issue(installation_id, clock)


def forget(installation_id: int) -> None:
    """Drop the cached token (the installation was deleted or suspended)."""
    _cache_call(cache.delete, _key(installation_id))


def app_client(*, clock: Clock = time.time) -> AppClient:
    """A client authenticated as the App itself, with a fresh JWT."""
    return AppClient(
        base_url=settings.GITHUB_API_URL,
        token=app_jwt(settings.GITHUB_APP_ID, settings.GITHUB_APP_PRIVATE_KEY, now=clock()),
        timeout=settings.GITHUB_TIMEOUT_SECONDS,
    )


def bot_login(*, clock: Clock = time.time) -> str:
    """`<slug>[bot]`, the login the App's comments appear under (GET /app, cached a day)."""
    key = f"prism:github-app:{settings.GITHUB_APP_ID}:bot-login"
    login = _cache_call(cache.get, key)
    if not isinstance(login, str) or not login:
        login = app_client(clock=clock).bot_login()
        _cache_call(cache.set, key, login, timeout=BOT_LOGIN_SECONDS)
        # Kept without expiry for `known_bot_login` (the webhook's, which never asks GitHub).
        _cache_call(cache.set, f"{key}:known", login, timeout=None)
    return login


def known_bot_login() -> str:
    """`<slug>[bot]` as some process last learnt it from GitHub; "" when none has yet. No
    GitHub call: for the webhook, which must answer at once."""
    key = f"prism:github-app:{settings.GITHUB_APP_ID}:bot-login:known"
    login = _cache_call(cache.get, key)
    return login if isinstance(login, str) else ""


def _issue(installation_id: int, clock: Clock) -> str:
    issued = app_client(clock=clock).create_installation_token(installation_id)
    _store(installation_id, issued, clock)
    logger.info("installation token issued installation_id=%s", installation_id)
    return issued.token


def _cached(installation_id: int, clock: Clock) -> str | None:
    entry = _cache_call(cache.get, _key(installation_id))
    if not isinstance(entry, dict):
        return None
    expires_at, sealed = entry.get("expires_at"), entry.get("token")
    if not isinstance(expires_at, int | float) or not isinstance(sealed, str):
        return None
    # The cache's own timeout runs on the wall clock; this check runs on ours.
    if expires_at - REFRESH_MARGIN_SECONDS <= clock():
        return None
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None  # sealed under another SECRET_KEY: issue a new one


def _store(installation_id: int, issued: InstallationToken, clock: Clock) -> None:
    keep = int(issued.expires_at - REFRESH_MARGIN_SECONDS - clock())
    if keep <= 0:
        return  # already inside the margin: used once, never shared
    sealed = _fernet().encrypt(issued.token.encode()).decode()
    entry = {"token": sealed, "expires_at": issued.expires_at}
    _cache_call(cache.set, _key(installation_id), entry, timeout=keep)


def _cache_call(operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A cache operation that cannot fail a review: with the cache (Redis) unreachable, a
    token is issued per client instead of shared."""
    try:
        return operation(*args, **kwargs)
    except Exception as exc:
        logger.warning("installation token cache unavailable: %s", type(exc).__name__)
        return None


def _key(installation_id: int) -> str:
    # Per App: two Prisms (or a re-created App) sharing a Redis never mix their tokens.
    return f"prism:github-app:{settings.GITHUB_APP_ID}:installation-token:{installation_id}"


def _fernet() -> Fernet:
    digest = hashlib.sha256(f"prism installation tokens {settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))
