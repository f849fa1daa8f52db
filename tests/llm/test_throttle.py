"""The limits every model call of a worker process shares (reviews/llm/throttle.py): the cap on
calls in flight, and the gate a 429 closes for every caller of the model."""

import json
import logging
import threading
import time

import pytest
import responses

from reviews.llm.client import LLMClient, LLMConfig, LLMError
from tests.llm.fake_clock import FakeClock, ManualClock
from tests.stubs import chat_completion

LLM_URL = "https://llm.test/api/v1"
CHAT = f"{LLM_URL}/chat/completions"
MODEL = "openai/gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Review this diff."}]
OK: tuple[int, dict[str, str], str] = (200, {}, json.dumps(chat_completion([])))


def client(clock=None, model=MODEL, **config) -> LLMClient:
    clock = clock or FakeClock()
    settings = {"base_url": LLM_URL, "api_key": "k", "model": model, "response_format": "none"}
    return LLMClient(LLMConfig(**{**settings, **config}), sleep=clock.sleep, clock=clock)


def in_threads(count: int, work) -> list:
    """work(i) in `count` threads at once; their results (or exceptions) in order."""
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


class Concurrency:
    """A responses callback that answers after a moment and notes how many calls overlap."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.models: list[str] = []

    def __call__(self, request):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.models.append(json.loads(request.body)["model"])
        time.sleep(self.seconds)
        with self.lock:
            self.now -= 1
        return OK


def test_calls_in_flight_never_exceed_the_cap_across_reviews_and_models():
    seen = Concurrency()
    with responses.RequestsMock() as http:
        http.add_callback(responses.POST, CHAT, callback=seen)
        # Twelve reviews' chunk threads at once, each its own client (as each review builds
        # its own), on two models: the cap is the process's, whatever asks.
        results = in_threads(
            12,
            lambda i: client(model=("a/one", "b/two")[i % 2], max_inflight=3).review(MESSAGES),
        )

    assert not [r for r in results if isinstance(r, Exception)], results
    assert len(seen.models) == 12
    assert seen.most == 3


def test_without_a_cap_the_same_burst_runs_all_at_once():
    seen = Concurrency(seconds=0.2)
    with responses.RequestsMock() as http:
        http.add_callback(responses.POST, CHAT, callback=seen)
        in_threads(6, lambda i: client(max_inflight=0).review(MESSAGES))

    assert seen.most == 6  # so the test above measures the cap, not the threads


def test_a_call_that_waits_too_long_for_a_slot_is_retried_later_and_says_why(caplog):
    release, started = threading.Event(), threading.Event()
    calls = []

    def slow(request):
        calls.append(request)
        started.set()
        release.wait(10)
        return OK

    with responses.RequestsMock() as http:
        http.add_callback(responses.POST, CHAT, callback=slow)
        holder = threading.Thread(target=client(max_inflight=1).review, args=(MESSAGES,))
        holder.start()
        assert started.wait(10)  # the one slot is taken
        caplog.set_level(logging.INFO, logger="reviews.llm.throttle")
        began = time.monotonic()
        with pytest.raises(LLMError) as raised:
            client(max_inflight=1, inflight_wait=0.3).review(MESSAGES)
        waited = time.monotonic() - began
        release.set()
        holder.join()

    error = raised.value
    assert 0.3 <= waited < 3
    assert not error.permanent and not error.unavailable  # another model would not help
    assert "LLM_MAX_INFLIGHT=1" in str(error)
    assert "waiting for a slot: 1 in flight" in caplog.text
    assert len(calls) == 1  # the waiting call never went out


def test_one_429_holds_every_other_callers_next_call_until_the_gate_opens():
    clock = ManualClock()
    sent: list[tuple[float, int]] = []
    first = threading.Event()

    def answer(request):
        sent.append((clock(), 429 if not first.is_set() else 200))
        if not first.is_set():
            first.set()
            return 429, {"Retry-After": "3"}, json.dumps({"error": {"message": "slow down"}})
        return OK

    with responses.RequestsMock() as http:
        http.add_callback(responses.POST, CHAT, callback=answer)
        results: list = []
        a = threading.Thread(target=lambda: results.append(client(clock).review(MESSAGES)))
        a.start()
        clock.wait_for_sleepers(1)  # review A met the 429 and waits for the gate
        others = [
            threading.Thread(target=lambda: results.append(client(clock).review(MESSAGES)))
            for _ in range(3)
        ]
        for thread in others:
            thread.start()
        clock.wait_for_sleepers(4)  # reviews B, C, D wait at the gate, having sent nothing
        assert len(sent) == 1
        clock.advance(3 * 1.25)  # the longest a waiter sleeps (jitter up to a quarter more)
        for thread in [a, *others]:
            thread.join(timeout=10)

    assert len(results) == 4
    assert [status for _, status in sent] == [429, 200, 200, 200, 200]
    assert all(at >= 1_000 + 3 for at, _ in sent[1:])
    assert len(clock.sleeps) == 4 and all(3 <= s <= 3.75 for s in clock.sleeps)


def test_a_429_without_retry_after_closes_the_gate_for_the_clients_backoff():
    clock = FakeClock()
    with responses.RequestsMock() as http:
        http.post(CHAT, status=429, json={"error": {"message": "slow down"}})
        http.post(CHAT, json=chat_completion([]))
        client(clock).review(MESSAGES)
        [pause] = clock.sleeps
        assert 1 <= pause <= 1.25  # the first backoff step, waited at the gate

        output = client(clock).review(MESSAGES)  # the gate has opened again: no wait
        assert len(http.calls) == 3

    assert clock.sleeps == [pause]
    assert output.waited == 0


def test_a_server_error_without_retry_after_slows_only_its_own_call():
    clock = FakeClock()
    with responses.RequestsMock() as http:
        http.post(CHAT, status=503, json={"error": {"message": "overloaded"}})
        http.post(CHAT, json=chat_completion([]))
        first = client(clock)
        other = client(clock)
        # The 503 is retried after the client's own backoff; the gate stays open.
        first.review(MESSAGES)
        sleeps = list(clock.sleeps)
        other.review(MESSAGES)

    assert len(sleeps) == 1 and clock.sleeps == sleeps


def test_a_gate_closed_longer_than_a_review_waits_fails_fast_without_calling():
    clock = FakeClock()
    with responses.RequestsMock() as http:
        http.post(CHAT, status=429, headers={"Retry-After": "60"}, json={"error": {}})
        with pytest.raises(LLMError) as first:
            client(clock).review(MESSAGES)
        clock.advance(15)
        with pytest.raises(LLMError) as second:
            client(clock).review(MESSAGES)  # another review: it does not ask at all
        assert len(http.calls) == 1

    assert first.value.retry_after == 60
    assert second.value.retry_after == pytest.approx(45)
    assert second.value.unavailable and not second.value.permanent
    assert "rate limiting openai/gpt-4o-mini" in str(second.value)
    assert clock.sleeps == []


def test_the_gate_is_per_model_and_provider():
    clock = FakeClock()
    with responses.RequestsMock() as http:
        http.post(CHAT, status=429, headers={"Retry-After": "60"}, json={"error": {}})
        with pytest.raises(LLMError):
            client(clock).review(MESSAGES)
        http.replace(responses.POST, CHAT, json=chat_completion([]))
        client(clock, model="anthropic/claude-3.5-haiku").review(MESSAGES)
        http.post("https://other.test/v1/chat/completions", json=chat_completion([]))
        client(clock, base_url="https://other.test/v1").review(MESSAGES)
        assert len(http.calls) == 3

    assert clock.sleeps == []


def test_the_wait_at_the_gate_is_reported_with_the_answer():
    clock = FakeClock()
    with responses.RequestsMock() as http:
        http.post(CHAT, status=429, headers={"Retry-After": "2"}, json={"error": {}})
        http.post(CHAT, json=chat_completion([]))
        output = client(clock).review(MESSAGES)

    assert 2 <= output.waited <= 2.5
    assert output.waited == pytest.approx(clock.sleeps[0], abs=0.001)


def test_the_retry_limit_is_unchanged_a_rate_limited_call_tries_three_times():
    clock = FakeClock()
    with responses.RequestsMock() as http:
        http.post(CHAT, status=429, headers={"Retry-After": "1"}, json={"error": {}})
        with pytest.raises(LLMError) as raised:
            client(clock).review(MESSAGES)
        assert len(http.calls) == 3

    assert len(clock.sleeps) == 2
    assert raised.value.unavailable and not raised.value.permanent
