"""First-run set-up for `make run`: write a .env with fresh secrets, make `var/` (the default
SQLite database and the beat schedule live there), then say what is missing.

Run as `python -m prism.bootstrap`. An existing .env is never overwritten.
"""

import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE = BASE_DIR / ".env"
VAR_DIR = BASE_DIR / "var"

TEMPLATE = """\
# Written by `make run` on first start. Every setting is explained in .env.example.
SECRET_KEY={secret_key}
GITHUB_WEBHOOK_SECRET={webhook_secret}
DEBUG=false
# Fill these in to review real pull requests:
GITHUB_TOKEN=
LLM_API_KEY=
# LLM_MODEL=openai/gpt-4o-mini
"""


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def main(port: str = "8000") -> None:
    VAR_DIR.mkdir(exist_ok=True)
    if not ENV_FILE.exists():
        ENV_FILE.write_text(
            TEMPLATE.format(
                secret_key=secrets.token_urlsafe(50), webhook_secret=secrets.token_hex(32)
            ),
            encoding="utf-8",
        )
        ENV_FILE.chmod(0o600)
        print(f"Wrote {ENV_FILE.name} with a new SECRET_KEY and GITHUB_WEBHOOK_SECRET.")
    values = {**read_env(ENV_FILE), **{k: v for k, v in os.environ.items() if v}}
    print()
    print("Prism is starting. Configure the GitHub webhook with:")
    print(f"  Payload URL:  http://<this host>:{port}/webhooks/github/")
    print("  Content type: application/json")
    print(f"  Secret:       {values.get('GITHUB_WEBHOOK_SECRET') or '(not set!)'}")
    print("  Events:       Pull requests")
    missing = [
        name
        for name, present in (
            ("GITHUB_WEBHOOK_SECRET", values.get("GITHUB_WEBHOOK_SECRET")),
            ("GITHUB_TOKEN", values.get("GITHUB_TOKEN")),
            ("LLM_API_KEY", values.get("LLM_API_KEY") or values.get("OPENROUTER_API_KEY")),
        )
        if not present
    ]
    if missing:
        print(f"Still missing in .env: {', '.join(missing)} (see README, Configuration).")
    print()


if __name__ == "__main__":
    main(*sys.argv[1:2])
