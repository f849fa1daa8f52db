"""The GitHub and model clients, built from settings in one place.

The clients themselves know nothing of Django; this module is where settings meet them.
"""

from django.conf import settings

from reviews.github.client import GitHubClient, GitHubError
from reviews.llm.client import LLMClient, LLMConfig
from reviews.llm.fallback import ModelChain


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
