"""What several benchmarks set up the same way: a scratch PostgreSQL database beside the one
DATABASE_URL names, and Django on an in-memory SQLite database talking to a local model."""

import os
from urllib.parse import urlsplit, urlunsplit


def scratch_database(url: str, suffix: str) -> tuple[str, str]:
    """A fresh database on the same PostgreSQL server; (its URL, the server's URL)."""
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'prism'}_{suffix}"
    server = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}")), server


def drop(server: str, url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django_with_local_model(port: int) -> None:
    """Prism's settings on an in-memory database, its model a stand-in on 127.0.0.1:`port`."""
    os.environ.update(
        PRISM_ENV_FILE="/nonexistent",
        SECRET_KEY="bench",
        DATABASE_URL="sqlite://:memory:",
        LLM_BASE_URL=f"http://127.0.0.1:{port}/v1",
        LLM_API_KEY="",
        LOG_LEVEL="WARNING",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prism.settings")
    import django

    django.setup()
