"""Scenario 9 (runs last): after everything above, no log holds a secret.

Covers what gunicorn, the worker, beat, Redis and the management commands wrote, and every
log record of the test process itself.
"""

import pytest

pytestmark = pytest.mark.e2e


def test_no_log_of_the_whole_suite_holds_the_github_token_the_webhook_secret_or_the_llm_key(
    stack, caplog
):
    logs = {path.name: path.read_text(errors="replace") for path in stack.log_dir.glob("*.log")}
    logs["pytest"] = "\n".join([*stack.pytest_log, caplog.text])
    # The capture worked: the processes did log what they did.
    assert "POST /webhooks/github/" in logs["gunicorn.log"]
    assert "reviews.tasks.review_pull_request" in logs["worker.log"]
    assert "beat: Starting" in logs["beat.log"]

    for name, secret in stack.secrets.all().items():
        leaked = [log for log, text in logs.items() if secret in text]
        assert not leaked, f"{name} appears in {leaked}"
