"""HTTPS in production, plain HTTP for `make run`: the settings, `check --deploy`, bootstrap.

The production environment is the one the repository documents: `.env.example` with its
secrets filled in, plus what docker-compose.yml sets for the app (behind its nginx).
"""

import functools
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from django.test import Client

from prism import bootstrap
from tests.fixtures import REPO_ROOT

# Real-looking secrets in place of the example's placeholders (prism.E001-E003, W001-W003,
# and Django's security.W009 for a short SECRET_KEY).
SECRETS = {
    "SECRET_KEY": "k7Q2vX9pLm4Rt8Wz1Yb6Nc3Hd5Jf0Gs2Ae7Ui9Oo4Pq1Lr6Ms8Nt3Vu5Wx0Yz2Ab",
    "GITHUB_WEBHOOK_SECRET": "3f9c1a7e5b2d8f4a6c0e9b1d7a3f5c8e2b4d6f0a",
    "GITHUB_TOKEN": "github_pat_11AAAAAAA0ExampleOnlyNotARealToken000000",
    "LLM_API_KEY": "sk-or-v1-0123456789abcdef0123456789abcdef",
    "POSTGRES_PASSWORD": "a1b2c3d4e5f6a7b8c9d0e1f2",
}


def env_example() -> dict[str, str]:
    """The uncommented settings of .env.example, as a production .env copied from it."""
    return bootstrap.read_env(REPO_ROOT / ".env.example")


def compose_app_environment() -> dict[str, str]:
    """What docker-compose.yml sets for the app, with ${POSTGRES_PASSWORD:?...} filled in."""
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return {
        name: re.sub(r"\$\{POSTGRES_PASSWORD:\?[^}]*\}", SECRETS["POSTGRES_PASSWORD"], value)
        for name, value in compose["x-prism"]["environment"].items()
    }


def production_environment() -> dict[str, str]:
    values = {**env_example(), **SECRETS, **compose_app_environment()}
    # Everything documented is given: nothing is left empty by accident.
    return {name: value for name, value in values.items() if value}


@functools.cache
def collected_static_root() -> str:
    """A STATIC_ROOT as the image leaves it after `collectstatic` (prism.E010 checks for it)."""
    root = Path(tempfile.mkdtemp(prefix="prism-static-"))
    (root / "staticfiles.json").write_text("{}")
    return str(root)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        # A developer's .env must not configure this run: only `env` does.
        env={
            "PYTHONPATH": str(REPO_ROOT),
            "PRISM_ENV_FILE": "/nonexistent",
            "STATIC_ROOT": collected_static_root(),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)


def test_check_deploy_is_clean_with_the_documented_production_environment():
    env = production_environment()
    assert env["DEBUG"] == "false" and env["BEHIND_PROXY"] == "true"
    result = check_deploy(env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr


def test_check_deploy_is_clean_with_env_example_alone_when_not_behind_a_proxy():
    env = {**env_example(), **SECRETS}
    result = check_deploy({name: value for name, value in env.items() if value})
    assert result.returncode == 0, result.stderr


def test_the_https_settings_are_the_defaults_when_debug_is_off():
    # Nothing but a secret key: a production .env that forgot them is still HTTPS-only.
    result = check_deploy({**SECRETS, "DEBUG": "false", "ALLOWED_HOSTS": "prism.example.com"})
    assert result.returncode == 0, result.stderr


def test_check_deploy_names_each_plain_http_setting():
    env = {**production_environment(), **bootstrap.PLAIN_HTTP}
    result = check_deploy(env)
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr, check


def settings_values(env: dict[str, str], *names: str) -> list[str]:
    code = "import prism.settings as s; " + "; ".join(
        f"print(repr(getattr(s, {name!r}, None)))" for name in names
    )
    result = run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_forwarded_proto_header_is_trusted_only_behind_the_proxy():
    base = {"SECRET_KEY": SECRETS["SECRET_KEY"]}
    assert settings_values(base, "SECURE_PROXY_SSL_HEADER") == ["None"]
    assert settings_values({**base, "BEHIND_PROXY": "true"}, "SECURE_PROXY_SSL_HEADER") == [
        "('HTTP_X_FORWARDED_PROTO', 'https')"
    ]


def test_development_mode_keeps_plain_http():
    values = settings_values(
        {"DEBUG": "true"},
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
    )
    assert values == ["False", "0", "False", "False"]


def test_a_negative_hsts_duration_is_refused():
    result = run(["-c", "import prism.settings"], {"SECRET_KEY": "x", "SECURE_HSTS_SECONDS": "-1"})
    assert "SECURE_HSTS_SECONDS must be 0 or more" in result.stderr


@pytest.fixture
def https_only(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["prism.example.com", "127.0.0.1"]
    return settings


@pytest.mark.django_db
def test_plain_http_is_redirected_but_the_health_check_on_loopback_is_not(https_only):
    client = Client()  # made after the settings change, so its middleware reads them
    response = client.get("/admin/", HTTP_HOST="prism.example.com")
    assert response.status_code == 301
    assert response["Location"] == "https://prism.example.com/admin/"
    # The container health check: plain HTTP to gunicorn on 127.0.0.1, no proxy header.
    health = client.get("/healthz", HTTP_HOST="127.0.0.1:8000")
    assert health.status_code in {200, 503}
    assert "Location" not in health


@pytest.mark.django_db
def test_https_through_the_proxy_gets_hsts_and_no_redirect(https_only):
    client = Client()
    response = client.get("/healthz", HTTP_HOST="prism.example.com", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code in {200, 503}
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


# --- bootstrap (`make run`) -----------------------------------------------------------


@pytest.fixture
def laptop(tmp_path, monkeypatch):
    monkeypatch.setattr(bootstrap, "ENV_FILE", tmp_path / ".env")
    monkeypatch.setattr(bootstrap, "VAR_DIR", tmp_path / "var")
    for name in ("GITHUB_WEBHOOK_SECRET", "GITHUB_TOKEN", "LLM_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / ".env"


def test_make_run_prints_the_webhook_secret_on_the_first_start_only(laptop, capsys):
    bootstrap.main("8123")
    secret = bootstrap.read_env(laptop)["GITHUB_WEBHOOK_SECRET"]
    first = capsys.readouterr().out
    assert f"Secret:       {secret}" in first
    assert "http://<this host>:8123/webhooks/github/" in first

    bootstrap.main("8123")
    later = capsys.readouterr().out
    assert secret not in later
    assert "GITHUB_WEBHOOK_SECRET" in later and str(laptop) in later
    assert "http://<this host>:8123/webhooks/github/" in later
    assert bootstrap.read_env(laptop)["GITHUB_WEBHOOK_SECRET"] == secret


def test_the_generated_env_serves_plain_http_with_debug_off(laptop, capsys):
    bootstrap.main("8123")
    env = bootstrap.read_env(laptop)
    assert env["DEBUG"] == "false"
    assert {name: env[name] for name in bootstrap.PLAIN_HTTP} == bootstrap.PLAIN_HTTP
    values = settings_values(
        {"PRISM_ENV_FILE": str(laptop)},
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
    )
    assert values == ["False", "False", "0", "False", "False"]


def test_an_env_from_an_earlier_make_run_gets_the_plain_http_settings_once(laptop, capsys):
    old = bootstrap.HEADER + " Every setting is explained in .env.example.\nSECRET_KEY=abc\n"
    laptop.write_text(old)
    bootstrap.main("8123")
    bootstrap.main("8123")
    text = laptop.read_text()
    assert text.startswith(old)
    assert text.count("SECURE_SSL_REDIRECT=false") == 1


def test_an_env_written_by_hand_is_never_changed(laptop, capsys):
    laptop.write_text("SECRET_KEY=abc\nGITHUB_WEBHOOK_SECRET=mine\n")
    bootstrap.main("8123")
    assert laptop.read_text() == "SECRET_KEY=abc\nGITHUB_WEBHOOK_SECRET=mine\n"
    assert "mine" not in capsys.readouterr().out


def test_the_example_documents_the_compose_database_password_empty():
    # Copying .env.example as it is must not give PostgreSQL a known password.
    assert env_example()["POSTGRES_PASSWORD"] == ""
    assert Path(REPO_ROOT / ".env.example").read_text().count("POSTGRES_PASSWORD=") == 1
