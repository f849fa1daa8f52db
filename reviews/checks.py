"""System checks: configuration problems an operator sees at startup, not in a failed review."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def check_github_settings(app_configs, **kwargs) -> list[Warning]:
    problems = []
    if not settings.GITHUB_WEBHOOK_SECRET:
        problems.append(
            Warning(
                "GITHUB_WEBHOOK_SECRET is not set: every webhook delivery will be refused.",
                hint="Set it to the secret configured on the GitHub webhook.",
                id="prism.W001",
            )
        )
    if not settings.GITHUB_TOKEN:
        problems.append(
            Warning(
                "GITHUB_TOKEN is not set: reviews cannot read pull requests or post comments.",
                hint="Create a fine-grained token (see README, 'Connecting a repository').",
                id="prism.W002",
            )
        )
    if not settings.LLM_API_KEY and "openrouter.ai" in settings.LLM_BASE_URL:
        problems.append(
            Warning(
                "LLM_API_KEY (or OPENROUTER_API_KEY) is not set: reviews will fail.",
                hint="Set an OpenRouter key, or point LLM_BASE_URL at a local server.",
                id="prism.W003",
            )
        )
    return problems
