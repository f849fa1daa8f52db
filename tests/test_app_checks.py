"""System checks for GitHub App mode."""

from reviews.checks import check_github_settings


def ids(problems) -> set[str]:
    return {problem.id for problem in problems}


def test_app_mode_needs_no_personal_token(settings, app_mode):
    settings.GITHUB_TOKEN = ""

    assert "prism.W002" not in ids(check_github_settings(None))


def test_personal_token_mode_still_warns_without_a_token(settings):
    settings.GITHUB_TOKEN = ""

    assert "prism.W002" in ids(check_github_settings(None))


def test_app_mode_on_a_per_process_cache_is_warned_about(settings, app_mode):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert "prism.W004" in ids(check_github_settings(None))

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
    assert "prism.W004" not in ids(check_github_settings(None))
