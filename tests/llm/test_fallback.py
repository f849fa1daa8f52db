"""Fallback models (reviews/llm/fallback.py): the order they are asked in, what falls back and
what does not, and what an answer records of it."""

import json
import threading

import pytest
import requests
import responses

from reviews.llm.client import LLMClient, LLMConfig, LLMError
from reviews.llm.fallback import ModelChain
from tests.llm.fake_clock import FakeClock
from tests.stubs import chat_completion

LLM_URL = "https://llm.test/api/v1"
CHAT = f"{LLM_URL}/chat/completions"
PRIMARY, SECOND, THIRD = "openai/gpt-4o-mini", "anthropic/claude-3.5-haiku", "google/gemini-flash"
MESSAGES = [{"role": "user", "content": "Review this diff."}]


def answer(model: str, *, cost: float | None = None) -> tuple[int, dict, str]:
    body = chat_completion([], summary=f"Reviewed by {model}.")
    body["model"] = model
    body["usage"] = {"prompt_tokens": 100, "completion_tokens": 10}
    if cost is not None:
        body["usage"]["cost"] = cost
    return 200, {}, json.dumps(body)


def failure(status: int, message: str = "no", retry_after: str | None = None) -> tuple:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return status, headers, json.dumps({"error": {"message": message}})


class Provider:
    """One chat-completions URL serving several models, each from its own script of answers
    (the last one repeats); a script entry may be an exception to raise instead."""

    def __init__(self, scripts: dict[str, list]) -> None:
        self.scripts = scripts
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request):
        model = json.loads(request.body)["model"]
        with self.lock:
            self.asked.append(model)
            script = self.scripts[model]
            step = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(step, Exception):
            raise step
        return step


def chain(clock: FakeClock, *models: str) -> ModelChain:
    return ModelChain(
        [
            LLMClient(
                LLMConfig(base_url=LLM_URL, api_key="k", model=model, response_format="none"),
                sleep=clock.sleep,
                clock=clock,
            )
            for model in models
        ]
    )


def run(provider: Provider, *models: str, clock: FakeClock | None = None):
    with responses.RequestsMock() as http:
        http.add_callback(responses.POST, CHAT, callback=provider)
        return chain(clock or FakeClock(), *models).review(MESSAGES)


def scripts(**by_model: list) -> Provider:
    names = {"primary": PRIMARY, "second": SECOND, "third": THIRD}
    return Provider({names[key]: script for key, script in by_model.items()})


def test_a_primary_that_keeps_answering_429_hands_the_chunk_to_the_next_model():
    provider = scripts(primary=[failure(429, retry_after="1")], second=[answer(SECOND)])

    output = run(provider, PRIMARY, SECOND, THIRD)

    assert provider.asked == [PRIMARY] * 3 + [SECOND]  # its three attempts first
    assert (output.model, output.fallback, output.tried) == (SECOND, True, (PRIMARY,))
    assert output.requested == PRIMARY
    assert output.summary == f"Reviewed by {SECOND}."


def test_a_primary_that_keeps_failing_with_5xx_then_a_second_that_does_too_reaches_the_third():
    provider = scripts(
        primary=[failure(503, "overloaded")],
        second=[failure(500, "internal")],
        third=[answer(THIRD)],
    )

    output = run(provider, PRIMARY, SECOND, THIRD)

    assert provider.asked == [PRIMARY] * 3 + [SECOND] * 3 + [THIRD]
    assert (output.model, output.tried) == (THIRD, (PRIMARY, SECOND))


def test_a_primary_that_times_out_falls_back():
    provider = scripts(primary=[requests.ReadTimeout("slow")], second=[answer(SECOND)])

    output = run(provider, PRIMARY, SECOND)

    assert provider.asked == [PRIMARY] * 3 + [SECOND]
    assert output.model == SECOND and output.fallback


def test_a_primary_that_recovers_within_its_retries_answers_itself():
    provider = scripts(primary=[failure(503), answer(PRIMARY)], second=[answer(SECOND)])

    output = run(provider, PRIMARY, SECOND)

    assert provider.asked == [PRIMARY, PRIMARY]
    assert (output.model, output.fallback, output.tried) == (PRIMARY, False, ())


def test_when_every_model_is_unavailable_the_error_names_them_all_and_is_transient():
    provider = scripts(
        primary=[failure(429, "rate limited", retry_after="30")],
        second=[failure(503, "overloaded")],
        third=[failure(429, "busy", retry_after="20")],
    )

    with pytest.raises(LLMError) as raised:
        run(provider, PRIMARY, SECOND, THIRD)

    error = raised.value
    assert not error.permanent and error.unavailable
    assert str(error).startswith(f"every model is unavailable (tried {PRIMARY}, {SECOND}, {THIRD})")
    assert "429: rate limited" in str(error) and "503: overloaded" in str(error)
    assert error.retry_after is None  # the 503 named no wait: Celery's backoff decides
    # A 30 s rate limit is longer than a review waits in process: one call, then the next.
    assert provider.asked == [PRIMARY] + [SECOND] * 3 + [THIRD]


def test_when_every_model_names_a_wait_the_review_is_retried_after_the_shortest():
    provider = scripts(
        primary=[failure(429, retry_after="90")], second=[failure(429, retry_after="40")]
    )

    with pytest.raises(LLMError) as raised:
        run(provider, PRIMARY, SECOND)

    assert raised.value.retry_after == 40


def test_a_rejected_request_does_not_fall_back():
    provider = scripts(primary=[failure(400, "context length exceeded")], second=[answer(SECOND)])

    with pytest.raises(LLMError) as raised:
        run(provider, PRIMARY, SECOND)

    assert raised.value.permanent
    assert str(raised.value) == (
        "the LLM provider rejected the request (400): context length exceeded"
    )
    assert provider.asked == [PRIMARY]


@pytest.mark.parametrize("status", [401, 402, 403])
def test_a_key_or_account_problem_does_not_fall_back(status):
    provider = scripts(primary=[failure(status, "no")], second=[answer(SECOND)])

    with pytest.raises(LLMError) as raised:
        run(provider, PRIMARY, SECOND)

    assert raised.value.permanent
    assert provider.asked == [PRIMARY]


def test_an_answer_unusable_after_its_repair_does_not_fall_back():
    garbage = chat_completion([])
    garbage["choices"][0]["message"]["content"] = "not json at all"
    provider = scripts(primary=[(200, {}, json.dumps(garbage))], second=[answer(SECOND)])

    with pytest.raises(LLMError) as raised:
        run(provider, PRIMARY, SECOND)

    assert raised.value.permanent and raised.value.raw_output == "not json at all"
    assert provider.asked == [PRIMARY, PRIMARY]


def test_a_fallback_models_own_permanent_failure_says_the_primary_was_unavailable():
    provider = scripts(primary=[failure(503)], second=[failure(404, "model not found")])

    with pytest.raises(LLMError) as raised:
        run(provider, PRIMARY, SECOND)

    assert raised.value.permanent
    assert str(raised.value) == (
        "the LLM provider rejected the request (404): model not found "
        f"(from a fallback model; unavailable before it: {PRIMARY})"
    )


def test_a_single_model_fails_exactly_as_without_fallbacks():
    provider = scripts(primary=[failure(503, "overloaded")])

    with pytest.raises(LLMError) as raised:
        run(provider, PRIMARY)

    assert str(raised.value) == "the LLM provider is unavailable: 503: overloaded"


def test_a_long_rate_limit_sends_the_next_chunks_straight_to_the_fallback():
    clock = FakeClock()
    provider = scripts(primary=[failure(429, retry_after="120")], second=[answer(SECOND)])
    with responses.RequestsMock() as http:
        http.add_callback(responses.POST, CHAT, callback=provider)
        models = chain(clock, PRIMARY, SECOND)
        first = models.review(MESSAGES)
        # Another chunk, of this review or another: the primary's gate is closed for two
        # minutes, so it is not asked at all.
        second = chain(clock, PRIMARY, SECOND).review(MESSAGES)

    assert provider.asked == [PRIMARY, SECOND, SECOND]
    assert first.fallback and second.fallback
    assert clock.sleeps == []


def test_what_each_model_cost_is_kept_per_model():
    garbage = chat_completion([])
    garbage["choices"][0]["message"]["content"] = "not json at all"
    garbage["usage"] = {"prompt_tokens": 300, "completion_tokens": 30, "cost": 0.003}
    # The primary answers (billed) but its repair meets a 503 three times: the chunk falls
    # back, and the primary's answered call stays counted, against the primary.
    provider = scripts(
        primary=[(200, {}, json.dumps(garbage)), failure(503)],
        second=[answer(SECOND, cost=0.001)],
    )

    output = run(provider, PRIMARY, SECOND)

    usage = output.usage
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (2, 400, 40)
    assert usage.cost == pytest.approx(0.004)
    assert [(u.model, u.calls, u.prompt_tokens, u.cost) for u in usage.by_model] == [
        (PRIMARY, 1, 300, 0.003),
        (SECOND, 1, 100, 0.001),
    ]


# --- a question (`@prism ask`) falls back the same way -------------------------------------


def prose(model: str, text: str, *, cost: float) -> tuple[int, dict, str]:
    body = {
        "model": model,
        "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "cost": cost},
    }
    return 200, {}, json.dumps(body)


def ask(provider: Provider, *models: str):
    with responses.RequestsMock() as http:
        http.add_callback(responses.POST, CHAT, callback=provider)
        return chain(FakeClock(), *models).answer(MESSAGES)


def test_a_question_goes_to_the_next_model_when_the_first_is_unavailable():
    provider = Provider(
        {
            PRIMARY: [failure(429, retry_after="1")],
            SECOND: [prose(SECOND, "It checks the input.", cost=0.002)],
        }
    )

    reply = ask(provider, PRIMARY, SECOND)

    assert provider.asked == [PRIMARY] * 3 + [SECOND]
    assert reply.text == "It checks the input."
    # Refused calls are not billed: the answer's usage is the model that answered.
    assert (reply.usage.model, reply.usage.calls) == (SECOND, 1)
    assert reply.usage.cost == pytest.approx(0.002)


def test_a_question_the_first_model_answers_asks_no_other():
    provider = Provider(
        {PRIMARY: [prose(PRIMARY, "Yes.", cost=0.001)], SECOND: [prose(SECOND, "No.", cost=1)]}
    )

    reply = ask(provider, PRIMARY, SECOND)

    assert provider.asked == [PRIMARY]
    assert (reply.text, reply.usage.model, reply.usage.calls) == ("Yes.", PRIMARY, 1)


def test_a_permanent_error_on_a_question_does_not_fall_back():
    provider = Provider({PRIMARY: [failure(401, "bad key")], SECOND: [prose(SECOND, "x", cost=0)]})

    with pytest.raises(LLMError) as raised:
        ask(provider, PRIMARY, SECOND)

    assert raised.value.permanent
    assert provider.asked == [PRIMARY]
