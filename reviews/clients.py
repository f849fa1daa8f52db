"""The GitHub and model clients, built from settings in one place.

The clients themselves know nothing of Django; this module is where settings meet them.
"""

from django.conf import settings

from reviews.github.client import GitHubClient, GitHubError
from reviews.llm.client import LLMClient, LLMConfig


def app_mode() -> bool:
    """True when Prism acts as a GitHub App (GITHUB_APP_ID and its private key are set):
    reviews use their installation's token and only installed, enabled repositories are
    reviewed. False: personal-token mode, with GITHUB_TOKEN."""
    return bool(settings.GITHUB_APP_ID and settings.GITHUB_APP_PRIVATE_KEY)


def github_client() -> GitHubClient:
    if not settings.GITHUB_TOKEN:
        raise GitHubError(
            "GITHUB_TOKEN is not set, so Prism cannot read the pull request; set it and re-run.",
            permanent=True,
        )
    return GitHubClient(
        base_url=settings.GITHUB_API_URL,
        token=settings.GITHUB_TOKEN,
        timeout=settings.GITHUB_TIMEOUT_SECONDS,
    )


def llm_client(model: str = "") -> LLMClient:
    """`model`: one a repository's policy chose from LLM_ALLOWED_MODELS; else LLM_MODEL."""
    return LLMClient(
        LLMConfig(
            base_url=settings.LLM_BASE_URL,
            api_key=settings.LLM_API_KEY,
            model=model or settings.LLM_MODEL,
            response_format=settings.LLM_RESPONSE_FORMAT,
            max_output_tokens=settings.LLM_MAX_OUTPUT_TOKENS,
            temperature=settings.LLM_TEMPERATURE,
            read_timeout=settings.LLM_READ_TIMEOUT_SECONDS,
            app_url=settings.PRISM_PUBLIC_URL,
        )
    )
