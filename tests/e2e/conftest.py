"""The end-to-end stack, started once per session: PostgreSQL, Redis, gunicorn, Celery.

Prism runs exactly as deployed, configured only through its environment, against a scratch
database (`prism_e2e_<pid>`), a Redis of the suite's own on a free port (scenario 4 stops
it) and two local stand-ins: the fake GitHub API and the fake LLM. Without a redis-server
binary (or with PRISM_E2E_REDIS=proxy) the suite's Redis is a stoppable proxy in front of the
shared one (CELERY_BROKER_URL, else 127.0.0.1:6379), on DB 13. A laptop without PostgreSQL or
Redis skips the suite; CI (CI=true) fails instead, because it has both.
"""

import contextlib
import logging
import os
import secrets
import shutil
import string
import tempfile
from pathlib import Path

import psycopg
import pytest

from prism.bootstrap import PLAIN_HTTP
from tests.e2e.fake_github import FakeGitHub
from tests.e2e.fake_llm import FALLBACK_MODEL, FakeLLM
from tests.e2e.helpers import TALLY, Secrets, Stack
from tests.e2e.processes import (
    Database,
    Prism,
    RedisProxy,
    RedisServer,
    SqliteDatabase,
    make_run_celery_commands,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# One database per run: two runs at once on one machine (a developer and CI, or two
# engineers) must not drop each other's database.
DATABASE = f"prism_e2e_{os.getpid()}"
# Everything Prism reads from the environment: none may leak in from the test run's own
# environment (DATABASE_URL of the unit tests, DJANGO_SETTINGS_MODULE=tests.settings).
PRISM_VARIABLES = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "OPENROUTER_API_KEY",
    "DEBUG",
    "BEHIND_PROXY",
)


RELAXED_PACING = {
    "GITHUB_WRITES_PER_MINUTE": "100000",
    "GITHUB_WRITES_PER_HOUR": "1000000",
    "GITHUB_WRITE_INTERVAL_SECONDS": "0",
}


def admin_database_url() -> str:
    """The maintenance database on the PostgreSQL the unit tests use, or the local one."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url.rsplit("/", 1)[0] + "/postgres"
    return "postgres://postgres@127.0.0.1:5432/postgres"


def shared_redis_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith("redis://") else "redis://127.0.0.1:6379/0"


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"the end-to-end suite cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def new_secrets() -> Secrets:
    # Realistic shapes, so Prism's redaction patterns would recognise them if they leaked.
    alphabet = string.ascii_letters + string.digits
    return Secrets(
        github_token="ghp_" + "".join(secrets.choice(alphabet) for _ in range(36)),
        webhook_secret="whsec-e2e-" + secrets.token_hex(16),
        llm_key="sk-or-v1-" + secrets.token_hex(32),
        metrics_token="metrics-" + secrets.token_hex(16),
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    admin_url = admin_database_url()
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.Error as exc:
        unavailable(f"no PostgreSQL at {admin_url.split('@')[-1]}: {type(exc).__name__}")
    log_dir = tmp_path_factory.mktemp("e2e-logs")
    if shutil.which("redis-server") and os.environ.get("PRISM_E2E_REDIS") != "proxy":
        redis_server: RedisServer | RedisProxy = RedisServer(log_dir)
    else:
        redis_server = RedisProxy(shared_redis_url())
        if not redis_server.available():
            unavailable(f"no redis-server binary and no Redis at {redis_server.upstream}")

    pytest_log: list[str] = []
    handler = _ListHandler(pytest_log)
    keys = new_secrets()
    db = Database(admin_url, DATABASE)
    github = FakeGitHub(keys.github_token)
    llm = FakeLLM(keys.llm_key)
    env = prism_env(keys, github, llm, database_url=db.url, broker_url=redis_server.url)
    # The deployed shape logs JSON; every scenario runs with it (scenario 14 reads the lines).
    env["LOG_FORMAT"] = "json"
    prism = Prism(env, log_dir)

    # Undone in reverse order, including after a failed start.
    with contextlib.ExitStack() as cleanup:
        root = logging.getLogger()
        # INFO and up from the test process too (the root logger passes only WARNING).
        cleanup.callback(root.setLevel, root.level)
        root.setLevel(min(root.level, logging.INFO))
        root.addHandler(handler)
        cleanup.callback(root.removeHandler, handler)
        db.create()
        cleanup.callback(db.drop)
        redis_server.start()
        cleanup.callback(redis_server.stop)
        github.start()
        cleanup.callback(github.stop)
        llm.start()
        cleanup.callback(llm.stop)
        cleanup.callback(prism.stop)
        cleanup.callback(_count, db, github)
        prism.start()
        yield Stack(github, llm, prism, db, redis_server, keys, log_dir, pytest_log)


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory):
    """Prism on `make run`'s defaults: a SQLite file, kombu's filesystem broker, and the worker
    and beat commands of the Makefile's run target. Needs no server, so it runs everywhere."""
    log_dir = tmp_path_factory.mktemp("e2e-embedded")
    keys = new_secrets()
    db = SqliteDatabase(log_dir / "prism.sqlite3")
    github = FakeGitHub(keys.github_token)
    llm = FakeLLM(keys.llm_key)
    env = prism_env(
        keys, github, llm, database_url=db.url, broker_url=f"filesystem://{log_dir / 'broker'}"
    )
    worker_args, beat_args = make_run_celery_commands()
    prism = Prism(env, log_dir, worker_args=worker_args, beat_args=beat_args)
    with contextlib.ExitStack() as cleanup:
        db.create()
        cleanup.callback(db.drop)
        github.start()
        cleanup.callback(github.stop)
        llm.start()
        cleanup.callback(llm.stop)
        cleanup.callback(prism.stop)
        prism.start()
        yield Stack(github, llm, prism, db, None, keys, log_dir, [])


def prism_env(
    keys: Secrets, github: FakeGitHub, llm: FakeLLM, *, database_url: str, broker_url: str
) -> dict[str, str]:
    """Prism's whole environment: nothing leaks in from the test run's own."""
    env = {k: v for k, v in os.environ.items() if k not in PRISM_VARIABLES}
    env.update(
        PRISM_ENV_FILE="/nonexistent",
        SECRET_KEY=secrets.token_urlsafe(40),
        GITHUB_API_URL=github.url,
        LLM_BASE_URL=llm.url,
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        REVIEW_LEASE_SECONDS="20",
        SWEEP_INTERVAL_SECONDS="5",
        LOG_LEVEL="INFO",
        # A real model takes seconds; the fake answers at once, and a stuck call must not
        # outlast the lease.
        LLM_READ_TIMEOUT_SECONDS="15",
        # Asked only when the model before stays unavailable (scenario 6 makes it so).
        LLM_FALLBACK_MODELS=FALLBACK_MODEL,
        GITHUB_TIMEOUT_SECONDS="10",
        # The suite posts far more than one token's 80 writes a minute and 500 an hour, which
        # would defer its reviews' posting by minutes; scenario 18 runs the worker under
        # GitHub's own numbers (the defaults) and counts every window.
        **RELAXED_PACING,
        PYTHONUNBUFFERED="1",
        # Collected per run, outside the checkout.
        STATIC_ROOT=tempfile.mkdtemp(prefix="prism-e2e-static-"),
        # Shared by gunicorn and the worker, as in compose and `make run` (GET /metrics).
        PROMETHEUS_MULTIPROC_DIR=tempfile.mkdtemp(prefix="prism-e2e-metrics-"),
        # gunicorn is reached over plain HTTP here, as `make run` serves it.
        **PLAIN_HTTP,
        **keys.all(),
    )
    return env


def _count(db: Database, github: FakeGitHub) -> None:
    with contextlib.suppress(psycopg.Error):
        TALLY.analyses = db.count_analyses()
    posts = github.calls("POST", r"/repos/[^/]+/[^/]+/issues/\d+/comments")
    TALLY.comments = sum(1 for post in posts if post.status == 201)


class _ListHandler(logging.Handler):
    """Every log line of the test process itself, for the secrets check (scenario 9)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::")[0]
    if "tests/e2e/" not in path.replace("\\", "/"):
        return
    if report.when == "call" or report.outcome != "passed":
        TALLY.outcomes.setdefault(Path(path).stem, []).append(report.outcome)


def pytest_terminal_summary(terminalreporter) -> None:
    if not TALLY.outcomes:
        return
    passed = sum(1 for outcomes in TALLY.outcomes.values() if all(o == "passed" for o in outcomes))
    terminalreporter.write_line(
        f"e2e tally: {passed} scenarios passed, {TALLY.deliveries} deliveries sent, "
        f"{TALLY.analyses if TALLY.analyses is not None else '?'} analyses, "
        f"{TALLY.comments if TALLY.comments is not None else '?'} comments, "
        f"{TALLY.server_errors} 5xx answers"
    )
