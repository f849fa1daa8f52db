"""Scenario 15: an operator can see it. gunicorn's /metrics holds what the Celery worker
recorded during a review (both write into one PROMETHEUS_MULTIPROC_DIR), and the worker's JSON
log lines of that review carry its analysis id, delivery id, repository and PR number."""

import json
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.helpers import needle

pytestmark = pytest.mark.e2e

REPO, NUMBER = "e2e-operator/widgets", 1


def scrape(stack) -> dict[str, float]:
    response = requests.get(
        f"{stack.prism.url}/metrics",
        headers={"Authorization": f"Bearer {stack.secrets.metrics_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def total(samples: dict[str, float], name: str, *labels: str) -> float:
    """The sum of `name`'s series that carry every one of `labels` ('outcome="ok"')."""
    return sum(
        value
        for key, value in samples.items()
        if key.startswith(name + "{") and all(label in key for label in labels)
    )


def json_lines(path: Path) -> list[dict]:
    return [
        json.loads(line)
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.startswith("{")
    ]


def test_the_web_server_scrapes_what_the_worker_recorded_and_the_logs_name_the_review(stack):
    assert requests.get(f"{stack.prism.url}/metrics", timeout=10).status_code == 401
    before = scrape(stack)
    # One 429 first: the model-call thread logs its retry, and the metrics count it.
    stack.llm.plan(needle(REPO, NUMBER), failures=["429"])
    stack.open_pull(REPO, NUMBER, diff="01-plain-modification")
    [row] = stack.wait_for_reviews(REPO, 1)
    assert row["status"] == "completed", row["error"]

    after = scrape(stack)

    def grew(name: str, *labels: str) -> float:
        return total(after, name, *labels) - total(before, name, *labels)

    # Recorded by the web server's workers...
    assert grew("prism_webhook_deliveries_total", 'outcome="queued"', 'code="202"') >= 1
    # ...and by the Celery worker, in another process: the same scrape sums them.
    assert grew("prism_reviews_total", 'status="completed"') >= 1
    assert grew("prism_review_duration_seconds_count", 'status="completed"') >= 1
    assert grew("prism_llm_requests_total", 'outcome="ok"') >= 1
    assert grew("prism_llm_requests_total", 'outcome="rate_limited"') >= 1
    assert grew("prism_llm_tokens_total", 'kind="prompt"') > 0
    assert grew("prism_github_requests_total", 'endpoint="pull"', 'status="200"') >= 2
    assert grew("prism_github_requests_total", 'endpoint="statuses"', 'method="POST"') >= 2
    assert after["prism_queue_up{}"] == 1
    assert total(after, "prism_llm_requests_in_flight") == 0
    folder = Path(stack.prism.env["PROMETHEUS_MULTIPROC_DIR"])
    assert list(folder.glob("counter_worker.*.db")) and list(folder.glob("counter_web.*.db"))
    for secret in stack.secrets.all().values():
        assert secret not in json.dumps(after)

    # Every JSON line the worker logged for this review names it.
    lines = [line for line in json_lines(stack.log_dir / "worker.log") if line.get("pr") == NUMBER]
    mine = [line for line in lines if line.get("repo") == REPO]
    assert "reviews.llm.client" in {line["logger"] for line in mine}
    for line in mine:
        assert line["analysis_id"] == row["id"], line
        assert line["delivery_id"] == row["delivery_id"], line
    # The web server's line for the delivery names it too.
    [queued] = [
        line
        for line in json_lines(stack.log_dir / "gunicorn.log")
        if line.get("delivery_id") == row["delivery_id"]
        and line["message"].startswith("review queued")
    ]
    assert (queued["analysis_id"], queued["repo"], queued["pr"]) == (row["id"], REPO, NUMBER)
