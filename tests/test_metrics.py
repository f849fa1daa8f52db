"""GET /metrics in this process (no PROMETHEUS_MULTIPROC_DIR): the token, the names and labels
each part of Prism records, and the queue read at scrape time. Across gunicorn's workers and
their multiprocess files: tests/test_metrics_multiprocess.py."""

import uuid
from datetime import timedelta
from unittest import mock

import pytest
import requests
import responses
from django.db import DatabaseError
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from reviews import metrics, services
from reviews.github import signatures
from reviews.github.transport import Transport, endpoint_group
from reviews.llm.client import LLMClient, LLMConfig, LLMError
from reviews.models import Analysis
from reviews.tasks import review_pull_request
from tests import stubs
from tests.fixtures import payload_bytes

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef"
SECRET = "test-webhook-secret"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client, token: str = TOKEN) -> dict[str, float]:
    """{'name{label="value",...}': value} of a scrape, labels sorted."""
    with override_settings(METRICS_TOKEN=TOKEN):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


# --- the token ----------------------------------------------------------------------------


@override_settings(METRICS_TOKEN="")
def test_metrics_are_off_until_a_token_is_set(client):
    response = client.get("/metrics")
    assert response.status_code == 403
    assert b"set METRICS_TOKEN" in response.content


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token-0123456789", f"Token {TOKEN}", f"Basic {TOKEN}"],
)
def test_a_scrape_without_the_bearer_token_is_refused(client, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN.encode() not in response.content
    assert b"prism_" not in response.content


@override_settings(METRICS_TOKEN=TOKEN)
def test_the_token_is_never_taken_from_the_url(client):
    # Access logs keep URLs: a token there would be in every log line.
    assert client.get(f"/metrics?token={TOKEN}").status_code == 401
    assert client.get(f"/metrics?access_token={TOKEN}").status_code == 401


@override_settings(METRICS_TOKEN=TOKEN)
def test_a_scrape_with_the_token_is_answered_in_prometheus_format_and_never_cached(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-store" in response["Cache-Control"]
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {"prism_queue_depth", "prism_queue_oldest_age_seconds", "prism_reviews_running"} <= names
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


@override_settings(METRICS_TOKEN=TOKEN)
def test_the_token_is_compared_in_constant_time(client):
    with mock.patch("reviews.metrics_endpoint.hmac.compare_digest", return_value=False) as compare:
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 401
    compare.assert_called_once_with(TOKEN.encode(), TOKEN.encode())


# --- the queue, read at scrape time -------------------------------------------------------


def test_the_queue_depth_and_the_oldest_due_review_come_from_the_database(client, make_analysis):
    now = timezone.now()
    waiting = make_analysis()
    retried_due = make_analysis()
    retry_pending = make_analysis()
    running = make_analysis(status=Analysis.Status.RUNNING, started_at=now)
    make_analysis(status=Analysis.Status.COMPLETED)
    Analysis.objects.filter(id=waiting.id).update(created_at=now - timedelta(seconds=300))
    # Created long ago, due again since its retry's countdown ended 120 s ago.
    Analysis.objects.filter(id=retried_due.id).update(
        created_at=now - timedelta(hours=2), retry_at=now - timedelta(seconds=120)
    )
    # Waiting out a rate limit: queued, but not late.
    Analysis.objects.filter(id=retry_pending.id).update(
        created_at=now - timedelta(hours=3), retry_at=now + timedelta(hours=1)
    )
    assert running.status == "running"

    samples = scrape(client)

    assert samples["prism_queue_up{}"] == 1
    assert samples["prism_queue_depth{}"] == 3
    assert samples["prism_reviews_running{}"] == 1
    assert 300 <= samples["prism_queue_oldest_age_seconds{}"] < 330


def test_an_empty_queue_is_zero_old(client):
    samples = scrape(client)
    assert samples["prism_queue_depth{}"] == samples["prism_queue_oldest_age_seconds{}"] == 0


def test_an_unreachable_database_still_answers_the_scrape(client):
    with mock.patch("reviews.selectors.queue_state", side_effect=DatabaseError("down")):
        samples = scrape(client)
    assert samples["prism_queue_up{}"] == 0
    assert "prism_queue_depth{}" not in samples


# --- deliveries ---------------------------------------------------------------------------


def deliver(client, body: bytes, event: str = "pull_request", signature: str | None = None):
    return client.post(
        "/webhooks/github/",
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT=event,
        HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
        HTTP_X_HUB_SIGNATURE_256=signature or signatures.sign(SECRET, body),
    )


def test_deliveries_are_counted_by_event_outcome_and_status(client, broker):
    opened = payload_bytes("pull_request.opened.json")
    outcomes = [
        ("pull_request", "queued", "202"),
        ("pull_request", "duplicate", "200"),
        ("ping", "pong", "200"),
        ("pull_request", "ignored", "200"),
        ("pull_request", "refused", "401"),
        ("pull_request", "refused", "400"),
    ]
    before = {
        o: value("prism_webhook_deliveries_total", event=o[0], outcome=o[1], code=o[2])
        for o in outcomes
    }

    assert deliver(client, opened).status_code == 202
    assert deliver(client, opened).status_code == 200  # the same head again: a duplicate
    assert deliver(client, b"{}", event="ping").status_code == 200
    assert deliver(client, payload_bytes("pull_request.labeled.json")).status_code == 200
    assert deliver(client, opened, signature="sha256=" + "0" * 64).status_code == 401
    assert deliver(client, b"not json").status_code == 400

    for outcome in outcomes:
        event, result, code = outcome
        after = value("prism_webhook_deliveries_total", event=event, outcome=result, code=code)
        assert after - before[outcome] == 1, outcome


def test_an_unknown_event_name_is_not_a_new_label(client):
    # The event header is not signed: anyone could make up names and fill the server.
    before = value("prism_webhook_deliveries_total", event="other", outcome="refused", code="401")
    deliver(client, b"{}", event="made-up-" + uuid.uuid4().hex, signature="sha256=" + "0" * 64)
    after = value("prism_webhook_deliveries_total", event="other", outcome="refused", code="401")
    assert after - before == 1


# --- reviews ------------------------------------------------------------------------------


def test_a_finished_review_is_counted_with_how_long_it_ran_and_waited(make_analysis):
    analysis = make_analysis()
    Analysis.objects.filter(id=analysis.id).update(
        created_at=timezone.now() - timedelta(seconds=40)
    )
    assert services.analysis_claim(analysis_id=analysis.id) is services.Claim.CLAIMED
    counted = value("prism_reviews_total", status="completed")
    runs = value("prism_review_duration_seconds_count", status="completed")
    quick_runs = value("prism_review_duration_seconds_bucket", status="completed", le="1.0")
    waits_over_30s = value("prism_review_latency_seconds_count", status="completed") - value(
        "prism_review_latency_seconds_bucket", status="completed", le="30.0"
    )

    assert services.analysis_finish(analysis_id=analysis.id, status="completed")
    # Finishing it twice (a lost lease) is not a second review.
    assert not services.analysis_finish(analysis_id=analysis.id, status="completed")

    assert value("prism_reviews_total", status="completed") - counted == 1
    assert value("prism_review_duration_seconds_count", status="completed") - runs == 1
    assert (
        value("prism_review_duration_seconds_bucket", status="completed", le="1.0") - quick_runs
        == 1
    )
    after = value("prism_review_latency_seconds_count", status="completed") - value(
        "prism_review_latency_seconds_bucket", status="completed", le="30.0"
    )
    assert after - waits_over_30s == 1


def test_a_review_failed_before_any_worker_took_it_has_no_run_time(make_analysis):
    analysis = make_analysis()
    failed = value("prism_reviews_total", status="failed")
    runs = value("prism_review_duration_seconds_count", status="failed")
    waits = value("prism_review_latency_seconds_count", status="failed")

    assert services.analysis_fail(analysis_id=analysis.id, error="broken")

    assert value("prism_reviews_total", status="failed") - failed == 1
    assert value("prism_review_duration_seconds_count", status="failed") == runs
    assert value("prism_review_latency_seconds_count", status="failed") - waits == 1


def test_reviews_superseded_by_a_newer_head_are_counted(make_analysis):
    older = [make_analysis(pr_number=9) for _ in range(2)]
    newer = make_analysis(pr_number=9)
    before = value("prism_reviews_total", status="superseded")
    assert services.analysis_supersede_older(analysis=newer) == len(older)
    assert value("prism_reviews_total", status="superseded") - before == 2


def test_a_whole_review_leaves_no_repository_number_or_credential_in_the_scrape(
    client, make_analysis, settings
):
    analysis = make_analysis(repo_full_name=stubs.REPO, pr_number=stubs.NUMBER, head_sha=stubs.HEAD)
    github = value("prism_github_requests_total", endpoint="pull", method="GET", status="200")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        stubs.serve_pull_request(http, analysis.head_sha)
        stubs.serve_publishing(http)
        http.post(stubs.CHAT, json=stubs.chat_completion([], cost=0.002))
        review_pull_request.run(analysis.id)
    analysis.refresh_from_db()
    assert analysis.status == "completed", analysis.error

    # The pull request, its diff, and the pull request again (its head did not move while the
    # diff was read): three reads of one endpoint group.
    assert (
        value("prism_github_requests_total", endpoint="pull", method="GET", status="200") - github
        == 3
    )
    with override_settings(METRICS_TOKEN=TOKEN):
        text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    assert 'prism_reviews_total{status="completed"}' in text
    for secret in (
        settings.GITHUB_TOKEN,
        settings.LLM_API_KEY,
        settings.GITHUB_WEBHOOK_SECRET,
        TOKEN,
    ):
        assert secret not in text
    labels = [
        sample.labels
        for family in text_string_to_metric_families(text)
        if family.name.startswith("prism_")
        for sample in family.samples
    ]
    values_seen = {label for sample_labels in labels for label in sample_labels.values()}
    assert stubs.REPO not in values_seen
    assert not {"repo", "pr", "repository", "delivery_id", "analysis_id"} & {
        name for sample_labels in labels for name in sample_labels
    }


# --- GitHub -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "group"),
    [
        ("/user", "user"),
        ("/repos/octo/widgets", "repository"),
        ("/repos/octo/widgets/pulls/7", "pull"),
        ("/repos/octo/widgets/pulls/7/files", "pull_files"),
        ("/repos/octo/widgets/pulls/7/comments", "review_comments"),
        ("/repos/octo/widgets/pulls/7/reviews", "reviews"),
        ("/repos/octo/widgets/issues/7/comments", "issue_comments"),
        ("/repos/octo/widgets/issues/comments/901", "issue_comments"),
        ("/repos/octo/widgets/issues/comments/901/reactions", "reactions"),
        ("/repos/octo/widgets/statuses/" + "a" * 40, "statuses"),
        ("/repos/octo/widgets/check-runs", "check_runs"),
        ("/repos/octo/widgets/compare/" + "a" * 40 + "..." + "b" * 40, "compare"),
        ("/repos/octo/widgets/contents/.github/prism.yml", "contents"),
        ("/orgs/octo/members", "other"),
        ("https://evil.test/repos/octo/widgets", "other"),
    ],
)
def test_github_paths_fall_into_bounded_endpoint_groups(path, group):
    assert endpoint_group(path) == group


def transport() -> Transport:
    return Transport(base_url=stubs.API, token="ghp_" + "x" * 36, sleep=lambda seconds: None)


def test_every_github_attempt_is_counted_with_its_status():
    url = f"{stubs.API}/repos/octo/widgets/pulls/7"
    labels = {"endpoint": "pull", "method": "GET"}
    before = {
        s: value("prism_github_requests_total", **labels, status=s) for s in ("502", "200", "error")
    }
    timed = value("prism_github_request_duration_seconds_count", endpoint="pull")
    with responses.RequestsMock() as http:
        http.get(url, status=502)
        http.get(url, body=requests.ConnectionError("reset"))
        http.get(url, json={})
        transport()._request("GET", url)
    for status in ("502", "200", "error"):
        assert value("prism_github_requests_total", **labels, status=status) - before[status] == 1
    assert value("prism_github_request_duration_seconds_count", endpoint="pull") - timed == 3


def test_a_github_rate_limit_wait_is_recorded_for_the_token():
    url = f"{stubs.API}/repos/octo/widgets/pulls/7"
    waits = value("prism_rate_limit_wait_seconds_count", identity_kind="token")
    waited = value("prism_rate_limit_wait_seconds_sum", identity_kind="token")
    with responses.RequestsMock() as http:
        http.get(url, status=429, headers={"retry-after": "3"})
        http.get(url, json={})
        transport()._request("GET", url)
    assert value("prism_rate_limit_wait_seconds_count", identity_kind="token") - waits == 1
    assert value("prism_rate_limit_wait_seconds_sum", identity_kind="token") - waited == 3


# --- the model ----------------------------------------------------------------------------

MODEL = "test/metrics-model"


def llm() -> LLMClient:
    config = LLMConfig(
        base_url=stubs.LLM, api_key="sk-test-key-000000", model=MODEL, response_format="none"
    )
    # A clock that moves only when the client sleeps: a rate limit's wait passes at once.
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    return LLMClient(config, sleep=sleep, clock=lambda: now[0])


MESSAGES = [{"role": "user", "content": "review this"}]


def test_model_calls_tokens_and_cost_are_counted_by_model_and_outcome():
    before = {
        "ok": value("prism_llm_requests_total", model=MODEL, outcome="ok"),
        "limited": value("prism_llm_requests_total", model=MODEL, outcome="rate_limited"),
        "prompt": value("prism_llm_tokens_total", model=MODEL, kind="prompt"),
        "completion": value("prism_llm_tokens_total", model=MODEL, kind="completion"),
        "cost": value("prism_llm_cost_dollars_total", model=MODEL),
        "waits": value("prism_rate_limit_wait_seconds_count", identity_kind="llm"),
    }
    with responses.RequestsMock() as http:
        http.post(stubs.CHAT, status=429, headers={"Retry-After": "2"}, json={"error": "slow down"})
        http.post(stubs.CHAT, json=stubs.chat_completion([], cost=0.0125))
        llm().review(MESSAGES)

    assert value("prism_llm_requests_total", model=MODEL, outcome="ok") - before["ok"] == 1
    assert (
        value("prism_llm_requests_total", model=MODEL, outcome="rate_limited") - before["limited"]
        == 1
    )
    assert value("prism_llm_tokens_total", model=MODEL, kind="prompt") - before["prompt"] == 1200
    assert (
        value("prism_llm_tokens_total", model=MODEL, kind="completion") - before["completion"] == 80
    )
    assert value("prism_llm_cost_dollars_total", model=MODEL) - before["cost"] == pytest.approx(
        0.0125
    )
    assert value("prism_rate_limit_wait_seconds_count", identity_kind="llm") - before["waits"] == 1
    assert value("prism_llm_requests_in_flight", model=MODEL) == 0


def test_a_refused_model_call_is_counted_as_rejected_and_an_unreachable_one_as_such():
    rejected = value("prism_llm_requests_total", model=MODEL, outcome="rejected")
    unreachable = value("prism_llm_requests_total", model=MODEL, outcome="unreachable")
    with responses.RequestsMock() as http:
        http.post(stubs.CHAT, status=401, json={"error": {"message": "bad key"}})
        with pytest.raises(LLMError):
            llm().review(MESSAGES)
    with responses.RequestsMock() as http:
        for _ in range(3):
            http.post(stubs.CHAT, body=requests.ConnectionError("refused"))
        with pytest.raises(LLMError):
            llm().review(MESSAGES)
    assert value("prism_llm_requests_total", model=MODEL, outcome="rejected") - rejected == 1
    assert value("prism_llm_requests_total", model=MODEL, outcome="unreachable") - unreachable == 3
    assert value("prism_llm_requests_in_flight", model=MODEL) == 0


def test_a_model_call_is_in_flight_while_it_waits_for_its_answer():
    seen = []

    def answer(request):
        seen.append(value("prism_llm_requests_in_flight", model=MODEL))
        return 200, {}, __import__("json").dumps(stubs.chat_completion([]))

    with responses.RequestsMock() as http:
        http.add_callback(responses.POST, stubs.CHAT, callback=answer)
        llm().review(MESSAGES)
    assert seen == [1]
    assert value("prism_llm_requests_in_flight", model=MODEL) == 0


# --- the hooks other parts call -----------------------------------------------------------


def test_the_hooks_keep_label_values_bounded():
    other = value("prism_rate_limit_wait_seconds_count", identity_kind="other")
    metrics.observe_rate_limit_wait("octo/widgets", 1.0)
    assert value("prism_rate_limit_wait_seconds_count", identity_kind="other") - other == 1

    installation = value("prism_rate_limit_wait_seconds_sum", identity_kind="installation")
    metrics.observe_rate_limit_wait("installation", 2.5)
    assert (
        value("prism_rate_limit_wait_seconds_sum", identity_kind="installation") - installation
        == 2.5
    )

    cost = value("prism_llm_cost_dollars_total", model="priced/model")
    metrics.observe_model_cost("priced/model", 0.5)
    metrics.observe_model_cost("priced/model", 0)  # nothing to add
    assert value("prism_llm_cost_dollars_total", model="priced/model") - cost == 0.5
