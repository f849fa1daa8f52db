"""A second Prism in GitHub App mode, for the scenarios that need one (16, 17).

It runs beside the session's personal-token Prism: its own gunicorn, Celery worker and beat,
PostgreSQL database and Redis databases, against a GitHub stand-in that checks the App's
JWT with its public key and issues installation tokens. Installations arrive as the real,
signed `installation.created` delivery.
"""

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import redis

from tests.e2e.conftest import (
    admin_database_url,
    new_secrets,
    prism_env,
    shared_redis_url,
    unavailable,
)
from tests.e2e.fake_github_app import FakeGitHubApp
from tests.e2e.fake_llm import FakeLLM
from tests.e2e.helpers import Stack
from tests.e2e.processes import Database, Prism, RedisProxy, RedisServer
from tests.fixtures import payload


@contextlib.contextmanager
def app_mode_stack(
    log_dir: Path,
    app_private_key: tuple[str, Any],
    *,
    name: str,
    app_id: int,
    slug: str,
    proxy_dbs: tuple[int, int],
    settings: dict[str, str],
) -> Iterator[Stack]:
    """Prism as the App `app_id`, configured with `settings` on top of the e2e defaults.
    `proxy_dbs`: the broker's and the cache's databases on the shared Redis, when there is
    no redis-server binary to start one of its own."""
    admin_url = admin_database_url()
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.Error as exc:
        unavailable(f"no PostgreSQL at {admin_url.split('@')[-1]}: {type(exc).__name__}")
    pem, public_key = app_private_key
    key_file = log_dir / "app.pem"
    key_file.write_text(pem)
    key_file.chmod(0o600)
    if shutil.which("redis-server"):
        redis_server: RedisServer | RedisProxy = RedisServer(log_dir)
        cache_url = redis_server.url.rsplit("/", 1)[0] + "/1"
    else:
        redis_server = RedisProxy(shared_redis_url(), db=proxy_dbs[0])
        if not redis_server.available():
            unavailable(f"no redis-server binary and no Redis at {redis_server.upstream}")
        cache_url = redis_server.url.rsplit("/", 1)[0] + f"/{proxy_dbs[1]}"
    keys = new_secrets()
    db = Database(admin_url, f"prism_e2e_{name}_{os.getpid()}")
    github = FakeGitHubApp(app_id=app_id, slug=slug, public_key=public_key)
    llm = FakeLLM(keys.llm_key)
    env = prism_env(keys, github, llm, database_url=db.url, broker_url=redis_server.url)
    env.update(
        GITHUB_APP_ID=str(app_id),
        GITHUB_APP_PRIVATE_KEY_FILE=str(key_file),
        GITHUB_TOKEN="",  # nothing may fall back to a personal token
        CACHE_URL=cache_url,
        **settings,
    )
    prism = Prism(env, log_dir)
    with contextlib.ExitStack() as cleanup:
        db.create()
        cleanup.callback(db.drop)
        redis_server.start()
        cleanup.callback(redis_server.stop)
        redis.Redis.from_url(cache_url).flushdb()  # no token cached by an earlier run
        github.start()
        cleanup.callback(github.stop)
        llm.start()
        cleanup.callback(llm.stop)
        cleanup.callback(prism.stop)
        prism.start()
        yield Stack(github, llm, prism, db, redis_server, keys, log_dir, [])


def install(
    stack: Stack, app_id: int, installation_id: int, account: str, repos: dict[str, int]
) -> None:
    """The App installed on `account`'s `repos` (name: id): at the GitHub stand-in, and at
    Prism by the real `installation.created` delivery."""
    data = payload("installation.created.json")
    data["installation"].update(id=installation_id, app_id=app_id)
    data["installation"]["account"].update(login=account, type="Organization")
    data["repositories"] = [
        {"id": repository_id, "full_name": name, "name": name.split("/")[1]}
        for name, repository_id in repos.items()
    ]
    response = stack.deliver(compact(data), event="installation")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "applied"
    assert isinstance(stack.github, FakeGitHubApp)
    stack.github.install(installation_id, account, *repos)


def for_installation(body: bytes, installation_id: int, repository_id: int) -> bytes:
    """A repository webhook's delivery as the App's installation receives it: with the
    installation and the repository's id, which the allow-list checks."""
    data = json.loads(body)
    data["installation"] = {"id": installation_id, "node_id": f"MDIz{installation_id}"}
    data["repository"]["id"] = repository_id
    return compact(data)


def compact(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
