"""First-run set-up for `make run`: write a .env with fresh secrets, make `var/` (the default
SQLite database and the beat schedule live there), then say what is missing.

Run as `python -m prism.bootstrap`. An existing .env is never overwritten: the webhook
secret is printed only on the first start, when this writes it; later starts say where it
is. A .env this module wrote before the HTTPS settings existed gets them appended.
"""

import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = BASE_DIR / ".env"
VAR_DIR = BASE_DIR / "var"

HEADER = "# Written by `make run` on first start."

# `make run` serves plain http://localhost: no redirect to HTTPS, cookies that travel over
# HTTP, no HSTS. Production keeps the HTTPS defaults (see .env.example).
PLAIN_HTTP = {
    "SECURE_SSL_REDIRECT": "false",
    "SECURE_HSTS_SECONDS": "0",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
}
PLAIN_HTTP_BLOCK = (
    "# Plain http://localhost for `make run`; behind HTTPS in production remove these lines.\n"
    + "".join(f"{name}={value}\n" for name, value in PLAIN_HTTP.items())
)

TEMPLATE = (
    HEADER
    + """ Every setting is explained in .env.example.
SECRET_KEY={secret_key}
GITHUB_WEBHOOK_SECRET={webhook_secret}
DEBUG=false
# Fill these in to review real pull requests:
GITHUB_TOKEN=
LLM_API_KEY=
# LLM_MODEL=openai/gpt-4o-mini
"""
    + PLAIN_HTTP_BLOCK
)


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def write_new_env() -> None:
    ENV_FILE.write_text(
        TEMPLATE.format(secret_key=secrets.token_urlsafe(50), webhook_secret=secrets.token_hex(32)),
        encoding="utf-8",
    )
    ENV_FILE.chmod(0o600)
    print(f"Wrote {ENV_FILE.name} with a new SECRET_KEY and GITHUB_WEBHOOK_SECRET.")


def add_plain_http_settings() -> None:
    """A .env written by an earlier `make run` predates the HTTPS defaults: without these
    lines http://localhost would redirect to HTTPS. Only our own file is touched."""
    text = ENV_FILE.read_text(encoding="utf-8")
    if not text.startswith(HEADER) or "SECURE_SSL_REDIRECT" in read_env(ENV_FILE):
        return
    ENV_FILE.write_text(text.rstrip("\n") + "\n" + PLAIN_HTTP_BLOCK, encoding="utf-8")
    print(f"Added the plain-HTTP settings for `make run` to {ENV_FILE.name}.")


def main(port: str = "8000") -> None:
    VAR_DIR.mkdir(exist_ok=True)
    first_start = not ENV_FILE.exists()
    if first_start:
        write_new_env()
    else:
        add_plain_http_settings()
    values = {**read_env(ENV_FILE), **{k: v for k, v in os.environ.items() if v}}
    print()
    print(f"Prism is starting on http://localhost:{port}/")
    if first_start:
        # Shown once: later starts must not put the secret in every terminal and log.
        print("Configure the GitHub webhook with:")
        print(f"  Payload URL:  http://<this host>:{port}/webhooks/github/")
        print("  Content type: application/json")
        print(f"  Secret:       {values.get('GITHUB_WEBHOOK_SECRET') or '(not set!)'}")
        print("  Events:       Pull requests")
    else:
        print(
            f"GitHub webhook: payload URL http://<this host>:{port}/webhooks/github/; "
            f"its secret is GITHUB_WEBHOOK_SECRET in {ENV_FILE} (not shown)."
        )
    missing = [
        name
        for name, present in (
            ("GITHUB_WEBHOOK_SECRET", values.get("GITHUB_WEBHOOK_SECRET")),
            # A GitHub App (README, "GitHub App mode") needs no personal token.
            ("GITHUB_TOKEN", values.get("GITHUB_TOKEN") or values.get("GITHUB_APP_ID")),
            ("LLM_API_KEY", values.get("LLM_API_KEY") or values.get("OPENROUTER_API_KEY")),
        )
        if not present
    ]
    if missing:
        print(f"Still missing in .env: {', '.join(missing)} (see README, Configuration).")
    print()


if __name__ == "__main__":
    main(*sys.argv[1:2])
