"""/metrics from a real gunicorn with two workers in prometheus-client's multiprocess mode:
signed deliveries spread over both workers, every scrape (whichever worker answers it) sums
them all; the master clears what an earlier run of this host's web server left and keeps the
worker's files; a worker that dies keeps its counts, and loses its live gauges.

gunicorn runs from the repository's root as deployed (it reads ./gunicorn.conf.py), on a
SQLite file and the in-memory broker of its own, so this runs alike on a laptop and in CI.
"""

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from prism.bootstrap import PLAIN_HTTP
from reviews import metrics_files
from reviews.github import signatures
from tests.e2e.processes import BIN, REPO_ROOT, Process, children, free_port, wait_until
from tests.fixtures import payload

SECRET = "multiprocess-webhook-secret"
TOKEN = "multiprocess-metrics-token-0123"
HOST = metrics_files._HOST


def leave_file(path: Path, metric: str, labels: dict[str, str], value: float) -> None:
    """A metrics file as a process of an earlier run left it."""
    files = MmapedDict(str(path))
    key = mmap_key(metric, f"{metric}_total", list(labels), list(labels.values()), "left")
    files.write_value(key, value, 0.0)
    files.close()


class Web:
    def __init__(self, root: Path) -> None:
        self.metrics_dir = root / "metrics"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(root)),
            "PRISM_ENV_FILE": "/nonexistent",
            "SECRET_KEY": "multiprocess-test-secret-key",
            # DEBUG spares the test a collectstatic; /metrics behaves the same.
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{root / 'prism.sqlite3'}",
            "CELERY_BROKER_URL": "memory://",
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "METRICS_TOKEN": TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **PLAIN_HTTP,
        }
        self.gunicorn = Process(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "prism.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
            ],
            self.env,
            root,
        )

    def start(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO_ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=180,
        )
        self.gunicorn.start()
        wait_until(lambda: len(self.workers()) == 2, timeout=60, what="two gunicorn workers")
        wait_until(self.answering, timeout=60, what="gunicorn to answer")

    def answering(self) -> bool:
        try:
            return requests.get(f"{self.url}/metrics", timeout=2).status_code == 401
        except requests.RequestException:
            return False

    def workers(self) -> list[int]:
        return children(self.gunicorn.pid)

    def deliver(self, event: str, body: bytes) -> int:
        response = requests.post(
            f"{self.url}/webhooks/github/",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": signatures.sign(SECRET, body),
                "Connection": "close",
            },
            timeout=20,
        )
        return response.status_code

    def scrape(self) -> dict[str, float]:
        response = requests.get(
            f"{self.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
        return samples

    def files_of_web_workers(self) -> set[str]:
        """The pids of the web processes that have written a counter."""
        return {
            path.name.removesuffix(".db").rsplit(".", 1)[1]
            for path in self.metrics_dir.glob(f"counter_web.{HOST}.*.db")
        }


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[Web]:
    server = Web(tmp_path_factory.mktemp("multiprocess"))
    server.metrics_dir.mkdir()
    # An earlier run of this host's web server (cleared at start), and this host's worker,
    # which runs on (kept, and summed).
    leave_file(
        server.metrics_dir / f"counter_web.{HOST}.999999.db",
        "prism_reviews",
        {"status": "failed"},
        5,
    )
    leave_file(
        server.metrics_dir / f"counter_worker.{HOST}.999998.db",
        "prism_reviews",
        {"status": "completed"},
        7,
    )
    server.start()
    try:
        yield server
    finally:
        server.gunicorn.stop()


def opened(number: int) -> bytes:
    """An opened pull request of its own (its own head), so each one is queued."""
    data = payload("pull_request.opened.json")
    data["number"] = data["pull_request"]["number"] = number
    data["pull_request"]["head"]["sha"] = f"{number:040x}"
    return json.dumps(data, separators=(",", ":")).encode()


QUEUED = 'prism_webhook_deliveries_total{code="202",event="pull_request",outcome="queued"}'
PONG = 'prism_webhook_deliveries_total{code="200",event="ping",outcome="pong"}'


def test_every_scrape_sums_the_deliveries_of_both_workers(web):
    sent = {"queued": 0, "pong": 0}
    number = 1000
    # Concurrent requests on fresh connections: a sync worker busy with one cannot accept the
    # next, so both get some. Batches until both have written, with a bound.
    for _ in range(10):
        bodies = [opened(number + i) for i in range(8)]
        number += len(bodies)
        with ThreadPoolExecutor(max_workers=6) as pool:
            codes = list(pool.map(lambda body: web.deliver("pull_request", body), bodies))
            pings = list(pool.map(lambda _: web.deliver("ping", b"{}"), range(4)))
        assert codes == [202] * len(bodies)
        assert pings == [200] * 4
        sent["queued"] += len(bodies)
        sent["pong"] += len(pings)
        if len(web.files_of_web_workers() & {str(pid) for pid in web.workers()}) == 2:
            break
    assert len(web.files_of_web_workers()) >= 2, "one worker answered every delivery"

    scrapes = [web.scrape() for _ in range(6)]

    for samples in scrapes:
        assert samples[QUEUED] == sent["queued"]
        assert samples[PONG] == sent["pong"]
        # The queue is read from the database: every queued delivery is waiting (no worker).
        assert samples["prism_queue_depth{}"] == sent["queued"]
        assert samples["prism_queue_up{}"] == 1
        # This host's worker's file is summed in; the earlier web server's was cleared.
        assert samples['prism_reviews_total{status="completed"}'] == 7
        assert 'prism_reviews_total{status="failed"}' not in samples
    assert not (web.metrics_dir / f"counter_web.{HOST}.999999.db").exists()
    assert (web.metrics_dir / f"counter_worker.{HOST}.999998.db").exists()


def test_a_dead_worker_keeps_its_counts_and_loses_its_live_gauges(web):
    before = web.scrape()
    [victim, survivor] = web.workers()
    # A live gauge it held (in-flight calls): a dead process's must stop counting.
    gauge = web.metrics_dir / f"gauge_livesum_web.{HOST}.{victim}.db"
    leave_file(gauge, "prism_llm_requests_in_flight", {"model": "m"}, 1)

    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: len(web.workers()) == 2 and victim not in web.workers(),
        timeout=60,
        what="gunicorn to replace the killed worker",
    )
    wait_until(lambda: not gauge.exists(), timeout=10, what="child_exit to mark it dead")

    after = web.scrape()
    assert survivor in web.workers()
    assert after[QUEUED] == before[QUEUED]
    assert after[PONG] == before[PONG]


SETTINGS_ENV = {"SECRET_KEY": "folder-test-secret-key", "CELERY_BROKER_URL": "memory://"}


def test_the_folder_must_be_set_in_the_environment_not_in_dotenv(tmp_path):
    from tests.test_settings import run_python

    dotenv = tmp_path / ".env"
    dotenv.write_text(f"PROMETHEUS_MULTIPROC_DIR={tmp_path / 'metrics'}\n")
    result = run_python(
        "-c", "import prism.settings", env={**SETTINGS_ENV, "PRISM_ENV_FILE": str(dotenv)}
    )
    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR is set in .env only" in result.stderr

    ok = run_python(
        "-c",
        "import prism.settings",
        env={**SETTINGS_ENV, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")},
    )
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PROMETHEUS_MULTIPROC_DIR", "var/metrics", "must be an absolute path"),
        ("METRICS_TOKEN", "short", "at least 16 characters"),
        ("METRICS_TOKEN", "a-long-enough-token-but\n", "contains whitespace"),
    ],
)
def test_bad_metrics_settings_stop_prism_at_startup(name, value, message):
    from tests.test_settings import run_python

    result = run_python("-c", "import prism.settings", env={**SETTINGS_ENV, name: value})
    assert result.returncode != 0
    assert message in result.stderr
    if name == "METRICS_TOKEN":
        assert value.strip() not in result.stderr


def test_the_process_name_in_file_names_keeps_role_host_and_pid_apart(tmp_path):
    name = metrics_files.identifier(1234)
    assert "_" not in name  # prometheus-client splits file names on underscores
    _, host, pid = name.split(".")
    assert (host, pid) == (HOST, "1234")
    (tmp_path / f"counter_web.{HOST}.1.db").touch()
    (tmp_path / f"counter_web.{HOST}-other.2.db").touch()  # another container's web server
    (tmp_path / f"counter_worker.{HOST}.3.db").touch()
    previous = metrics_files._role
    try:
        metrics_files.prepare(metrics_files.WEB, str(tmp_path))
        assert metrics_files.identifier(5).startswith("web.")
    finally:
        metrics_files._role = previous
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"counter_web.{HOST}-other.2.db",
        f"counter_worker.{HOST}.3.db",
    ]
