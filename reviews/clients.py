"""The GitHub and model clients, built from settings in one place.

The clients themselves know nothing of Django; this module is where settings meet them.
"""

from functools import cache

import redis
from django.conf import settings

from reviews.github import pacing
from reviews.github.client import GitHubClient, GitHubError
from reviews.llm.client import LLMClient, LLMConfig


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
