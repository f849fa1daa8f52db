"""The real processes of the end-to-end suite: Redis, gunicorn, the Celery worker and beat.

Every wait has a deadline; nothing here sleeps blindly, so a broken build fails instead of
hanging CI.
"""

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
import redis
import requests
from psycopg.rows import dict_row

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None], *, timeout: float, interval: float = 0.2, what: str = ""
) -> T:
    """The first truthy value of predicate(), polling until the deadline; fails after it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """One child process, its output in a log file, stopped politely and then not."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.args, self.env = name, args, env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self.log_offset = 0

    def start(self) -> "Process":
        log = self.log_path.open("ab")
        self.log_offset = log.tell()
        # Its own session, so killing "the whole worker" reaches its pool and nothing else.
        self.popen = subprocess.Popen(
            self.args,
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill_group(self) -> None:
        """SIGKILL the process and all its children, as the OOM killer or a power cut would."""
        if self.alive():
            assert self.popen is not None
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        try:
            os.killpg(self.pid, signal.SIGTERM)
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        except ProcessLookupError:
            pass

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def output_since_start(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode("utf-8", errors="replace")


def children(pid: int) -> list[int]:
    """The direct children of `pid`, read from /proc (psutil is not a dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the parent pid follows it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


class RedisServer:
    """A Redis of the suite's own on a free port: stopping it never touches the machine's."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = Process(
            "redis",
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(log_dir),
            ],
            dict(os.environ),
            log_dir,
        )

    def start(self) -> None:
        self.process.start()
        wait_until(self.ping, timeout=15, what="redis-server to answer PING")

    def stop(self) -> None:
        self.process.stop()

    def ping(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False


class RedisProxy:
    """The fallback where there is no redis-server binary (GitHub Actions runs Redis as a
    service container): a TCP proxy on a free port in front of that Redis, on a scratch DB
    number. Stopping it closes the port and every connection through it, which is exactly
    what Prism sees when Redis goes down; the shared Redis itself is never touched."""

    def __init__(self, upstream_url: str, db: int = 13) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.db = db
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/{db}"
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._flushed = False

    def available(self) -> bool:
        try:
            host, port = self.upstream
            return bool(redis.Redis(host=host, port=port, socket_connect_timeout=2).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        if not self._flushed:  # a scratch DB: nothing left from an earlier run
            host, port = self.upstream
            redis.Redis(host=host, port=port, db=self.db).flushdb()
            self._flushed = True
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        wait_until(self.ping, timeout=15, what="the Redis proxy to answer PING")

    def stop(self) -> None:
        with self._lock:
            sockets, self._sockets = [self._listener, *self._sockets], set()
        for sock in sockets:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked on it
                sock.close()

    def ping(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                return
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Database:
    """A scratch PostgreSQL database, and the few reads the scenarios make from it."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url, self.name = admin_url, name
        base = admin_url.rsplit("/", 1)[0]
        self.url = f"{base}/{name}"

    def create(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, row_factory=dict_row) as conn:
            return conn.execute(sql, params).fetchall()

    def analyses(self, repo: str) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT * FROM reviews_analysis WHERE repo_full_name = %s ORDER BY id", repo
        )

    def count_analyses(self) -> int:
        return self.rows("SELECT count(*) AS n FROM reviews_analysis")[0]["n"]


class SqliteDatabase(Database):
    """The embedded default's SQLite file, read the way `Database` reads PostgreSQL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.url = f"sqlite:///{path}"

    def create(self) -> None:
        self.path.unlink(missing_ok=True)  # `migrate` creates it

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=20)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql.replace("%s", "?"), params)]


def make_run_celery_commands() -> tuple[list[str], list[str]]:
    """The worker and beat commands of `make run`, read from the Makefile, so the embedded
    scenarios run exactly what a laptop runs."""
    commands: dict[str, list[str]] = {}
    recipe = (REPO_ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    for line in recipe.splitlines():
        line = line.strip().removesuffix("\\").strip().removesuffix("&").strip()
        if line.startswith("$(BIN)/celery "):
            args = shlex.split(line.replace("$(BIN)", str(BIN)))
            commands[args[3]] = args  # celery -A prism <worker|beat> ...
    return commands["worker"], commands["beat"]


class Prism:
    """gunicorn, a Celery worker and Celery beat, configured only through the environment."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        *,
        worker_args: list[str] | None = None,
        beat_args: list[str] | None = None,
    ) -> None:
        self.env, self.log_dir = env, log_dir
        # docker-compose.yml's worker: its pool and concurrency are the settings' defaults.
        self.worker_args = worker_args or [
            str(BIN / "celery"),
            "-A",
            "prism",
            "worker",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
        ]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gunicorn = Process(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "prism.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--access-logfile",
                "-",
            ],
            env,
            log_dir,
        )
        self.worker = self._worker()
        # Beat runs beside the worker, as in docker-compose.yml, so the worker's own children
        # are its pool's (the threads pool has none; scenario 3 checks).
        beat_args = beat_args or [str(BIN / "celery"), "-A", "prism", "beat", "-l", "info"]
        self.beat = Process(
            "beat",
            [*beat_args, "--schedule", str(log_dir / "celerybeat-schedule")],
            env,
            log_dir,
        )

    def _worker(self) -> Process:
        return Process("worker", self.worker_args, self.env, self.log_dir)

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [str(BIN / "python"), "manage.py", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        with (self.log_dir / "manage.log").open("a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode:
            raise AssertionError(f"manage.py {args[0]} failed: {result.stderr[-2000:]}")
        return result.stdout

    def start(self) -> None:
        # As `make run` and the image do: gunicorn refuses to start without the static files.
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        self.gunicorn.start()
        self.worker.start()
        self.beat.start()
        wait_until(self.healthy, timeout=60, what="gunicorn /healthz")
        self.wait_for_worker()

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_for_worker(self) -> None:
        wait_until(
            lambda: " ready." in self.worker.output_since_start(),
            timeout=60,
            what="the Celery worker to be ready",
        )

    def restart_worker(self) -> None:
        self.worker.stop()
        self.worker = self._worker()
        self.worker.start()
        self.wait_for_worker()

    def pool_pids(self) -> list[int]:
        return children(self.worker.pid)

    def stop(self) -> None:
        for process in (self.beat, self.worker, self.gunicorn):
            process.stop()


NGINX_TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "prism.conf.template"


def nginx_binary() -> str | None:
    """Debian's nginx lives in /usr/sbin, which a non-root PATH may lack."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def render_template(template: str, values: dict[str, str]) -> str:
    """What the official image's envsubst step does: ${NAME} replaced, nginx's $vars kept."""
    used = set(re.findall(r"\$\{(\w+)\}", template))
    if used - set(values):
        raise AssertionError(f"no value for {sorted(used - set(values))} in {NGINX_TEMPLATE}")
    return re.sub(r"\$\{(\w+)\}", lambda match: values[match.group(1)], template)


class Nginx:
    """Debian's nginx running deploy/nginx/prism.conf.template, the file compose mounts into
    the official image, in front of the suite's gunicorn: TLS with a throwaway self-signed
    certificate, everything (pid, logs, temp files) under a temporary prefix, foreground."""

    def __init__(self, upstream: str, prefix: Path) -> None:
        self.prefix = prefix
        self.https_port, self.http_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.certificate = prefix / "fullchain.pem"
        self.key = prefix / "privkey.pem"
        self.site = render_template(
            NGINX_TEMPLATE.read_text(encoding="utf-8"),
            {
                "PRISM_UPSTREAM": upstream,
                "NGINX_HTTP_PORT": f"127.0.0.1:{self.http_port}",
                "NGINX_HTTPS_PORT": f"127.0.0.1:{self.https_port}",
                "NGINX_TLS_CERTIFICATE": str(self.certificate),
                "NGINX_TLS_KEY": str(self.key),
            },
        )
        binary = nginx_binary()
        assert binary is not None
        self.config = prefix / "nginx.conf"
        self.args = [
            binary,
            "-p",
            str(prefix),
            "-c",
            str(self.config),
            "-e",
            str(prefix / "error.log"),
        ]
        self.process = Process("nginx", self.args, dict(os.environ), prefix)

    def write_files(self) -> None:
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(self.key), "-out", str(self.certificate),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        (self.prefix / "prism.conf").write_text(self.site, encoding="utf-8")
        p = self.prefix
        # Run by root, nginx would hand its workers to `nobody`, who cannot enter pytest's
        # private temp folder: the workers stay root here (a throwaway test server only).
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.config.write_text(
            f"""{user}daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {p}/access.log;
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi;
    scgi_temp_path {p}/scgi;
    include {p}/prism.conf;
}}
""",
            encoding="utf-8",
        )

    def start(self) -> None:
        self.write_files()
        test = subprocess.run([*self.args, "-t"], capture_output=True, text=True, timeout=30)
        assert test.returncode == 0, test.stderr
        self.process.start()
        wait_until(self.healthy, timeout=30, what="nginx to answer /healthz")

    def healthy(self) -> bool:
        try:
            response = requests.get(f"{self.url}/healthz", timeout=2, verify=str(self.certificate))
        except requests.RequestException:
            return False
        return response.status_code == 200

    def stop(self) -> None:
        self.process.stop()
