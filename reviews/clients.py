"""The GitHub and model clients, built from settings in one place.

The clients themselves know nothing of Django; this module is where settings meet them.
In GitHub App mode every GitHub client acts for one installation, with that
installation's own token: two organisations reviewed at once share no client, session or
token.
"""

from functools import cache, partial

import redis
from django.conf import settings

from reviews.github import pacing
from reviews.github.client import GitHubClient, GitHubError
from reviews.installations import gate, tokens
from reviews.llm.client import LLMClient, LLMConfig
from reviews.llm.fallback import ModelChain


def app_mode() -> bool:
    """True when Prism acts as a GitHub App (GITHUB_APP_ID and its private key are set):
    reviews use their installation's token and only installed, enabled repositories are
    reviewed. False: personal-token mode, with GITHUB_TOKEN."""
    return gate.app_mode()


def mode_description() -> str:
    """Which mode is on, for the admin and /healthz."""
    return f"GitHub App {settings.GITHUB_APP_ID}" if app_mode() else "personal token"


def bot_login() -> str:
    """The login Prism's comments appear under: in App mode `<slug>[bot]` (from GET /app),
    else the personal token's user. The name commands address is reviews/commands/names.py
    (PRISM_BOT_NAME, else `prism` and the App's slug)."""
    if app_mode():
        return tokens.bot_login()
    return github_client().authenticated_login()


def github_client(installation_id: int | None = None) -> GitHubClient:
    """A client for one installation in App mode (`installation_id` required there), or
    for GITHUB_TOKEN in personal-token mode (`installation_id` ignored)."""
    if app_mode():
        if installation_id is None:
            raise GitHubError(
                "Prism runs as a GitHub App, and this repository has no installation: "
                "install the App on it (or run sync_installations) and re-run.",
                permanent=True,
            )
        return GitHubClient(
            base_url=settings.GITHUB_API_URL,
            token=tokens.installation_token(installation_id),
            timeout=settings.GITHUB_TIMEOUT_SECONDS,
            refresh_token=partial(tokens.refresh, installation_id),
            login=tokens.bot_login(),
            # GitHub counts an App's writes per installation, whatever token it holds now.
            pacer=github_pacer(),
            identity=pacing.identity(settings.GITHUB_API_URL, f"installation {installation_id}"),
        )
    if not settings.GITHUB_TOKEN:
        raise GitHubError(
            "GITHUB_TOKEN is not set, so Prism cannot read the pull request; set it and re-run.",
            permanent=True,
        )
    return GitHubClient(
        base_url=settings.GITHUB_API_URL,
        token=settings.GITHUB_TOKEN,
        timeout=settings.GITHUB_TIMEOUT_SECONDS,
        pacer=github_pacer(),
    )


@cache
def github_pacer() -> pacing.Pacer:
    """One per process: its windows live in Redis when there is one, else in this process."""
    url = settings.GITHUB_PACING_REDIS_URL
    return pacing.Pacer(
        pacing.Limits(
            per_minute=settings.GITHUB_WRITES_PER_MINUTE,
            per_hour=settings.GITHUB_WRITES_PER_HOUR,
            interval=settings.GITHUB_WRITE_INTERVAL_SECONDS,
        ),
        redis=redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        if url
        else None,
    )


def github_client_for(repo_full_name: str, installation_id: int | None = None) -> GitHubClient:
    """The client that may act on `repo_full_name`: its delivery's installation when known
    (`Analysis.installation_id`), else the installation it is recorded under."""
    if app_mode() and installation_id is None:
        installation_id = gate.installation_of(repo_full_name)
    return github_client(installation_id)


def llm_client(model: str = "") -> ModelChain:
    """`model`: one a repository's policy chose from LLM_ALLOWED_MODELS; else LLM_MODEL.
    The fallback models follow it, in their order."""
    return ModelChain([_model_client(name) for name in llm_models(model)])


def llm_models(model: str = "") -> list[str]:
    """The model to ask, then LLM_FALLBACK_MODELS (without it)."""
    first = model or settings.LLM_MODEL
    return [first, *(name for name in settings.LLM_FALLBACK_MODELS if name != first)]


def _model_client(model: str) -> LLMClient:
    return LLMClient(
        LLMConfig(
            base_url=settings.LLM_BASE_URL,
            api_key=settings.LLM_API_KEY,
            model=model,
            response_format=settings.LLM_RESPONSE_FORMAT,
            max_output_tokens=settings.LLM_MAX_OUTPUT_TOKENS,
            temperature=settings.LLM_TEMPERATURE,
            read_timeout=settings.LLM_READ_TIMEOUT_SECONDS,
            app_url=settings.PRISM_PUBLIC_URL,
            max_inflight=settings.LLM_MAX_INFLIGHT,
            inflight_wait=settings.LLM_INFLIGHT_WAIT_SECONDS,
        )
    )
