"""System checks: configuration problems an operator sees at startup, not in a failed review."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

# Values that people copy from examples and forget: `.env.example` ships "change-me".
PLACEHOLDERS = frozenset(
    {"change-me", "changeme", "change_me", "replace-me", "secret", "your-secret", "xxx", "todo"}
)
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


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
    # A GitHub App needs no personal token: each review uses its installation's.
    if not settings.GITHUB_TOKEN and not settings.GITHUB_APP_ID:
        problems.append(
            Warning(
                "GITHUB_TOKEN is not set: reviews cannot read pull requests or post comments.",
                hint="Create a fine-grained token (see README, 'Connecting a repository').",
                id="prism.W002",
            )
        )
    cache_backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if settings.GITHUB_APP_ID and "locmem" in cache_backend.lower():
        problems.append(
            Warning(
                "GitHub App mode with a per-process cache: every web and worker process asks "
                "GitHub for its own installation tokens.",
                hint="Set CACHE_URL to a shared cache, e.g. redis://redis:6379/1.",
                id="prism.W004",
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


@register()
def check_no_placeholder_secrets(app_configs, **kwargs) -> list[Error]:
    """Refuse to run with a secret copied from the example: anyone could sign deliveries."""
    problems = []
    for number, name in enumerate(("SECRET_KEY", "GITHUB_WEBHOOK_SECRET"), start=1):
        if getattr(settings, name, "").strip().lower() in PLACEHOLDERS:
            problems.append(
                Error(
                    f"{name} is a placeholder ({getattr(settings, name)!r}), so anyone could "
                    "forge what it protects.",
                    hint=f"Generate one with {GENERATE} and set it in .env or the environment.",
                    id=f"prism.E00{number}",
                )
            )
    for name in ("GITHUB_TOKEN", "LLM_API_KEY"):
        if getattr(settings, name, "").strip().lower() in PLACEHOLDERS:
            problems.append(
                Error(
                    f"{name} is a placeholder ({getattr(settings, name)!r}).",
                    hint=f"Set {name} to the real credential, or leave it unset.",
                    id="prism.E003",
                )
            )
    return problems


def check_static_files_collected(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """With DEBUG off the admin's CSS and scripts are served from the manifest `collectstatic`
    writes; without it every admin page would be a 500. Say so when the web server starts.

    Not a registered check: `migrate` runs the registered ones, and `make run` migrates
    before it collects the static files. prism/wsgi.py runs it.
    """
    backend = settings.STORAGES.get("staticfiles", {}).get("BACKEND", "")
    if "Manifest" not in backend:
        return []
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.is_file():
        return []
    return [
        Error(
            f"The static files are not collected ({manifest} is missing): with DEBUG off "
            "every admin page would fail.",
            hint="Run `python manage.py collectstatic --noinput` (the Docker image does it "
            "when it is built), or set DEBUG=true for local development.",
            id="prism.E010",
        )
    ]


@register()
def check_budget_prices(app_configs, **kwargs) -> list[Warning]:
    """A daily cap without the model's price refuses every review: say so at startup."""
    if settings.BUDGET_DAILY_USD is None:
        return []
    models = [settings.LLM_MODEL, *settings.LLM_ALLOWED_MODELS]
    unpriced = [model for model in dict.fromkeys(models) if model not in settings.LLM_PRICES]
    if not unpriced:
        return []
    return [
        Warning(
            f"BUDGET_DAILY_USD is set but LLM_PRICES has no price for {', '.join(unpriced)}: "
            "every review with that model will be refused (its cost cannot be checked).",
            hint='Add it to LLM_PRICES, e.g. {"MODEL": {"input": 0.15, "output": 0.6}} '
            "(dollars per million tokens).",
            id="prism.W040",
        )
    ]
