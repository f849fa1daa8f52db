"""LOG_FORMAT=json: one JSON object per line, each line of a review carrying its analysis id,
delivery id, repository and PR number (bound once where the review starts), credentials
scrubbed; text stays the default; Celery's worker logs through the same handler."""

import io
import json
import logging
import os
import threading
from collections.abc import Iterator

import pytest
import requests
import responses
from django.conf import settings

from reviews import logs
from reviews.scrub import CredentialFilter
from reviews.tasks import review_pull_request
from tests import stubs
from tests.e2e.processes import BIN, Process, free_port, wait_until
from tests.test_settings import run_python

CONTEXT = {"analysis_id", "command_id", "delivery_id", "repo", "pr"}


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged, as settings.LOGGING's handler writes it with LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    assert "reviews.logs.JsonFormatter" in str(settings.LOGGING["formatters"])
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.ContextFilter())
    handler.addFilter(CredentialFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.django_db
def test_every_line_of_a_review_carries_its_context(json_lines, make_analysis):
    analysis = make_analysis(
        repo_full_name=stubs.REPO,
        pr_number=stubs.NUMBER,
        head_sha=stubs.HEAD,
        delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        # A 502 first (the transport logs its retry), then the pull request.
        http.get(stubs.PR_API, status=502)
        stubs.serve_pull_request(http, analysis.head_sha)
        stubs.serve_publishing(http)
        # The model's 429 is logged from the review's thread pool, not the task's thread.
        http.post(stubs.CHAT, status=429, json={"error": "slow down"})
        http.post(stubs.CHAT, json=stubs.chat_completion([]))
        review_pull_request.run(analysis.id)
    analysis.refresh_from_db()
    assert analysis.status == "completed", analysis.error

    lines = parsed(json_lines)
    loggers = {line["logger"] for line in lines}
    assert {"reviews.github.transport", "reviews.llm.client"} <= loggers
    for line in lines:
        assert line["analysis_id"] == analysis.id, line
        assert line["delivery_id"] == analysis.delivery_id, line
        assert line["repo"] == stubs.REPO, line
        assert line["pr"] == stubs.NUMBER, line
        assert {"time", "level", "logger", "message"} <= set(line), line


def test_lines_outside_a_review_carry_no_context_and_nested_blocks_add_to_it(json_lines):
    logger = logging.getLogger("reviews.test")
    logger.warning("before")
    with logs.bound(delivery_id="d-1"):
        logger.warning("delivery")
        with logs.bound(repo="octo/widgets", pr=7, analysis_id=None):
            logger.warning("recorded")
        logger.warning("delivery again")
    logger.warning("after")

    lines = {line["message"]: line for line in parsed(json_lines)}
    assert not CONTEXT & set(lines["before"]) and not CONTEXT & set(lines["after"])
    assert lines["delivery"]["delivery_id"] == lines["delivery again"]["delivery_id"] == "d-1"
    assert "repo" not in lines["delivery again"]
    assert (lines["recorded"]["repo"], lines["recorded"]["pr"]) == ("octo/widgets", 7)
    assert "analysis_id" not in lines["recorded"]
    with pytest.raises(ValueError, match="unknown log context fields"), logs.bound(token="x"):
        pass


def test_a_thread_started_inside_a_review_logs_its_context(json_lines):
    logger = logging.getLogger("reviews.test")

    def work(n: int) -> int:
        logger.warning("in thread %s", n)
        return n

    with logs.bound(analysis_id=42):
        carried = threading.Thread(target=logs.carrying_context(work), args=(1,))
        bare = threading.Thread(target=work, args=(2,))
        for thread in (carried, bare):
            thread.start()
            thread.join()

    lines = {line["message"]: line for line in parsed(json_lines)}
    assert lines["in thread 1"]["analysis_id"] == 42
    assert "analysis_id" not in lines["in thread 2"]


@pytest.mark.django_db
def test_a_webhook_delivery_logs_with_its_delivery_id_and_pull_request(json_lines, client, broker):
    from reviews.github import signatures
    from tests.fixtures import payload

    body = json.dumps(payload("pull_request.opened.json")).encode()
    client.post(
        "/webhooks/github/",
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="pull_request",
        HTTP_X_GITHUB_DELIVERY="delivery-in-the-log",
        HTTP_X_HUB_SIGNATURE_256=signatures.sign("test-webhook-secret", body),
    )
    [queued] = [line for line in parsed(json_lines) if line["message"].startswith("review queued")]
    assert queued["delivery_id"] == "delivery-in-the-log"
    assert queued["repo"] == payload("pull_request.opened.json")["repository"]["full_name"]
    assert isinstance(queued["analysis_id"], int) and isinstance(queued["pr"], int)


SCRIPT = """
import logging, django
django.setup()
from django.conf import settings
from reviews import logs
log = logging.getLogger("reviews.script")
with logs.bound(analysis_id=5, delivery_id="d-5", repo="octo/widgets", pr=9):
    log.warning("calling with %s", settings.GITHUB_TOKEN)
    try:
        raise RuntimeError("GitHub said: bad credentials " + settings.GITHUB_TOKEN)
    except RuntimeError:
        log.exception("failed")
"""

ENV = {
    "SECRET_KEY": "logs-test-secret-key",
    "GITHUB_TOKEN": "ghp_" + "S3cr3t" * 6,
    "DATABASE_URL": "sqlite:////tmp/unused.sqlite3",
    "CELERY_BROKER_URL": "memory://",
    "DJANGO_SETTINGS_MODULE": "prism.settings",
}


def test_json_output_is_one_scrubbed_object_per_line():
    result = run_python("-c", SCRIPT, env={**ENV, "LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["message"] for line in lines] == ["calling with [redacted]", "failed"]
    assert ENV["GITHUB_TOKEN"] not in result.stderr
    assert "RuntimeError: GitHub said: bad credentials [redacted]" in lines[1]["exc_info"]
    for line in lines:
        assert (line["analysis_id"], line["delivery_id"], line["repo"], line["pr"]) == (
            5,
            "d-5",
            "octo/widgets",
            9,
        )


def test_text_stays_the_default():
    result = run_python("-c", SCRIPT, env=ENV)
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert " WARNING reviews.script calling with [redacted]" in first
    assert not first.startswith("{")
    assert ENV["GITHUB_TOKEN"] not in result.stderr


def test_an_unknown_log_format_is_refused_at_startup():
    result = run_python("-c", "import prism.settings", env={**ENV, "LOG_FORMAT": "xml"})
    assert result.returncode != 0
    assert "LOG_FORMAT must be one of text, json" in result.stderr


CELERY_SCRIPT = """
import logging
from prism.celery import app
# What `celery worker` does at start: Celery's logging set-up, which without a receiver of
# setup_logging would replace the root logger's handler (worker_hijack_root_logger).
app.log.setup(loglevel="INFO")
from django.conf import settings
logging.getLogger("celery.worker").warning("worker line with %s", settings.GITHUB_TOKEN)
"""


def test_the_celery_worker_logs_through_the_same_json_handler():
    result = run_python("-c", CELERY_SCRIPT, env={**ENV, "LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert [line["message"] for line in lines] == ["worker line with [redacted]"]
    assert lines[0]["logger"] == "celery.worker"


def test_gunicorn_writes_its_own_lines_as_json_too(tmp_path):
    port = free_port()
    env = {
        **ENV,
        "PATH": os.environ.get("PATH", ""),
        "PRISM_ENV_FILE": "/nonexistent",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "LOG_FORMAT": "json",
        "METRICS_TOKEN": "a-metrics-token-0123456789",
    }
    env.pop("DJANGO_SETTINGS_MODULE")  # as deployed: gunicorn.conf.py and wsgi.py set it
    command = [str(BIN / "gunicorn"), "prism.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    gunicorn = Process("gunicorn", [*command, "--access-logfile", "-"], env, tmp_path)
    gunicorn.start()
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def refused() -> bool:
            try:
                return requests.get(url, timeout=2).status_code == 401
            except requests.RequestException:
                return False

        wait_until(refused, timeout=60, what="gunicorn to answer")
        wait_until(lambda: "GET /metrics" in gunicorn.output(), timeout=10, what="its access line")
    finally:
        gunicorn.stop()
    lines = [json.loads(line) for line in gunicorn.output().splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "gunicorn.access", "django.request"} <= loggers
    assert any("Starting gunicorn" in line["message"] for line in lines)
    assert ENV["GITHUB_TOKEN"] not in gunicorn.output()
