"""Fallback models through the worker's task: which model answered each chunk is stored, shown
in the comment's footer, the admin and the API; what every model cost is kept per model."""

import json
import re

import pytest
import responses
from celery.exceptions import Retry

from reviews import clients
from reviews.models import Analysis
from reviews.tasks import review_pull_request
from tests import stubs
from tests.stubs import CHAT, COMMENTS_API, calls_to, serve_publishing, serve_pull_request

pytestmark = pytest.mark.django_db

PRIMARY, SECOND, THIRD = "openai/gpt-4o-mini", "anthropic/claude-3.5-haiku", "google/gemini-flash"


@pytest.fixture(autouse=True)
def _fallbacks(settings):
    settings.LLM_MODEL = PRIMARY
    settings.LLM_FALLBACK_MODELS = [SECOND, THIRD]


def provider(http, *, down: set[str], down_for_part: int | None = None) -> list[str]:
    """The model server: the models in `down` always answer 429 (no wait asked), the others
    answer; with `down_for_part`, they are down only for the chunk of that part number.
    Returns the list of models asked, in order."""
    asked: list[str] = []

    def answer(request):
        body = json.loads(request.body)
        model = body["model"]
        asked.append(model)
        found = re.search(r"part (\d+) of", body["messages"][0]["content"])
        assert found is not None
        part = int(found[1])
        if model in down and down_for_part in (None, part):
            error = {"error": {"message": "rate limited upstream"}}
            return 429, {"Retry-After": "0"}, json.dumps(error)
        completion = stubs.chat_completion([], summary=f"Part {part} by {model}.", cost=0.001)
        completion["model"] = model
        return 200, {}, json.dumps(completion)

    http.add_callback(responses.POST, CHAT, callback=answer)
    return asked


def two_chunks(settings) -> None:
    settings.LLM_MAX_PROMPT_TOKENS = 2000
    settings.LLM_MAX_CALLS = 2
    settings.LLM_CONCURRENCY = 1  # the parts are asked in order


def footer_of(http) -> str:
    [posted] = calls_to(http, "POST", COMMENTS_API)
    return stubs.sent_json(posted)["body"].split("\n---\n", 1)[1]


def test_a_chunk_the_primary_cannot_answer_is_answered_by_the_fallback_and_the_footer_says_so(
    http, analysis, settings
):
    two_chunks(settings)
    serve_pull_request(http, analysis.head_sha, diff="21-100plus-files")
    serve_publishing(http)
    asked = provider(http, down={PRIMARY}, down_for_part=2)

    review_pull_request.run(analysis.id)

    analysis.refresh_from_db()
    assert analysis.status == "completed", analysis.error
    assert asked == [PRIMARY] + [PRIMARY] * 3 + [SECOND]
    assert analysis.feedback["chunks"] == [
        {"part": 1, "model": PRIMARY, "fallback": False, "tried": []},
        {"part": 2, "model": SECOND, "fallback": True, "tried": [PRIMARY]},
    ]
    assert analysis.result.chunks[1].fallback
    assert f"Models `{PRIMARY}` (1 chunk), `{SECOND}` (1 chunk, fallback)" in footer_of(http)
    # Each model's answered calls, counted against it.
    usage = analysis.feedback["usage"]
    assert [(m["model"], m["calls"], m["cost"]) for m in usage["by_model"]] == [
        (PRIMARY, 1, 0.001),
        (SECOND, 1, 0.001),
    ]
    assert usage["calls"] == 2 and float(analysis.cost) == pytest.approx(0.002)


def test_the_admin_and_the_api_show_which_model_answered_each_chunk(
    http, analysis, settings, staff_client
):
    two_chunks(settings)
    serve_pull_request(http, analysis.head_sha, diff="21-100plus-files")
    serve_publishing(http)
    provider(http, down={PRIMARY}, down_for_part=1)
    review_pull_request.run(analysis.id)

    detail = staff_client.get(f"/api/analyses/{analysis.id}/").json()
    assert detail["chunks"] == [
        {"part": 1, "model": SECOND, "fallback": True, "tried": [PRIMARY]},
        {"part": 2, "model": PRIMARY, "fallback": False, "tried": []},
    ]
    assert [m["model"] for m in detail["usage"]["by_model"]] == [SECOND, PRIMARY]

    page = staff_client.get(f"/admin/reviews/analysis/{analysis.id}/change/")
    text = page.content.decode()
    assert f"Chunks: {PRIMARY} (1 chunk), {SECOND} (1 chunk, fallback)" in text
    assert f"{SECOND}: 1 call, 1,280 tokens, $0.0010" in text


def test_one_model_answering_everything_keeps_the_one_model_footer(http, analysis, settings):
    two_chunks(settings)
    serve_pull_request(http, analysis.head_sha, diff="21-100plus-files")
    serve_publishing(http)
    asked = provider(http, down=set())

    review_pull_request.run(analysis.id)

    assert asked == [PRIMARY, PRIMARY]
    assert f"Model `{PRIMARY}` · commit" in footer_of(http)
    analysis.refresh_from_db()
    assert "by_model" not in analysis.feedback["usage"]


def test_the_second_and_third_models_are_tried_in_order(http, analysis):
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    asked = provider(http, down={PRIMARY, SECOND})

    review_pull_request.run(analysis.id)

    analysis.refresh_from_db()
    assert asked == [PRIMARY] * 3 + [SECOND] * 3 + [THIRD]
    assert analysis.feedback["chunks"] == [
        {"part": 1, "model": THIRD, "fallback": True, "tried": [PRIMARY, SECOND]}
    ]
    assert f"Models `{THIRD}` (1 chunk, fallback)" in footer_of(http)


def test_when_every_model_is_unavailable_the_review_is_retried_naming_them(http, analysis):
    serve_pull_request(http, analysis.head_sha)
    http.post(stubs.status_api(), status=201, json={})
    provider(http, down={PRIMARY, SECOND, THIRD})

    with (
        pytest.MonkeyPatch.context() as patch,
        pytest.raises(Retry),
    ):
        patch.setattr(review_pull_request, "retry", lambda **kwargs: Retry())
        review_pull_request.run(analysis.id)

    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.QUEUED
    assert analysis.error.startswith(
        f"Will retry: every model is unavailable (tried {PRIMARY}, {SECOND}, {THIRD})"
    )


def test_the_fallbacks_follow_a_model_the_repositorys_policy_chose(settings):
    settings.LLM_ALLOWED_MODELS = ["anthropic/claude-sonnet-4", SECOND, THIRD]

    assert clients.llm_models("anthropic/claude-sonnet-4") == [
        "anthropic/claude-sonnet-4",
        SECOND,
        THIRD,
    ]
    assert clients.llm_models(THIRD) == [THIRD, SECOND]  # the chosen model is not asked twice
    assert clients.llm_models() == [PRIMARY, SECOND, THIRD]
    assert clients.llm_client(THIRD).models == (THIRD, SECOND)


def test_the_time_chunks_waited_for_a_rate_limit_is_recorded_with_the_timings(http, analysis):
    serve_pull_request(http, analysis.head_sha)
    serve_publishing(http)
    http.post(CHAT, status=429, headers={"Retry-After": "1"}, json={"error": {"message": "x"}})
    http.post(CHAT, json=stubs.chat_completion([]))

    review_pull_request.run(analysis.id)

    analysis.refresh_from_db()
    assert analysis.status == "completed", analysis.error
    assert 1 <= analysis.feedback["timings"]["llm_wait"] <= 1.3
    assert analysis.feedback["chunks"] == [
        {"part": 1, "model": PRIMARY, "fallback": False, "tried": []}
    ]
