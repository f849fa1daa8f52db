"""Test settings: prism.settings with safe test values for what the environment leaves unset.

DATABASE_URL and CELERY_BROKER_URL still come from the environment, so CI runs the
suite against PostgreSQL and Redis.
"""

import os

from prism.bootstrap import PLAIN_HTTP

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("GITHUB_WEBHOOK_SECRET", "test-webhook-secret")
os.environ.setdefault("GITHUB_TOKEN", "ghp_testtoken000000000000000000000000000")
os.environ.setdefault("LLM_API_KEY", "sk-or-test-llm-key-0000000000")
os.environ.setdefault("GITHUB_API_URL", "https://api.github.test")
os.environ.setdefault("LLM_BASE_URL", "https://llm.test/api/v1")
# The test client and the browser test speak plain HTTP, as `make run` does.
for _name, _value in PLAIN_HTTP.items():
    os.environ.setdefault(_name, _value)

from prism.settings import *  # noqa: E402, F403

# Reviews read no repository policy unless a test turns it on: the GitHub stand-ins of most
# tests serve a pull request and nothing else (tests/pipeline/test_review_policy.py has it on).
# A setting, not the environment: the e2e suite's Prism inherits this process's environment.
REPO_POLICY = False

# Each test paces GitHub writes in its own process-local windows (tests/conftest.py makes a
# fresh pacer per test), with no spacing to sleep through; tests/github/test_pacing.py sets
# its own limits, clock and Redis.
GITHUB_PACING_REDIS_URL = ""
GITHUB_WRITE_INTERVAL_SECONDS = 0.0

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Pages rendered in tests link static files that `collectstatic` never hashed here: the
# manifest storage would refuse them, so tests use the plain storage.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
