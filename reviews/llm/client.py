"""Client for any OpenAI-compatible chat-completions server: OpenRouter, OpenAI, vLLM, Ollama,
llama.cpp. One call asks for a review of one chunk and returns validated findings.

https://platform.openai.com/docs/api-reference/chat/create
https://openrouter.ai/docs/api/reference/overview
https://openrouter.ai/docs/api/reference/errors-and-debugging
"""

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from reviews import metrics
from reviews.errors import ServiceError
from reviews.llm import throttle
from reviews.llm.answers import (
    Answer,
    assistant,
    error_of,
    json_or_none,
    permanent_message,
    retry_after_of,
    user,
)
from reviews.llm.outputs import ReviewOutput, Tally, TextAnswer
from reviews.llm.response import FINDINGS_SCHEMA, InvalidOutput, parse_review
from reviews.redaction import redact
from reviews.results import Usage

logger = logging.getLogger(__name__)

SCHEMA_NAME = "prism_review"
RESPONSE_FORMATS = ("json_schema", "json_object", "none")
APP_TITLE = "Prism"

MAX_ATTEMPTS = 3  # per call, in this process; Celery retries the whole review after that
TRANSIENT_STATUSES = {408, 429}
# Answers that ask every caller to slow down, not only this one: they close the model's gate.
RATE_LIMIT_STATUSES = {429}
# Servers refuse an unsupported response_format with 400 (OpenAI, vLLM), 422 (some proxies)
# or, on OpenRouter with require_parameters, 404 "no endpoints ... requested parameters".
FORMAT_REJECTION_STATUSES = {400, 404, 422}
# A call waits for its model's gate at most this long in all, however often other callers'
# rate limits keep it closed; then the review is retried later (or another model asked).
GATE_BUDGET = 60.0
FORMAT_REJECTION = re.compile(
    r"response_format|response format|json_schema|json schema|structured output"
    r"|requested parameters",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    api_key: str
    model: str
    response_format: str  # one of RESPONSE_FORMATS
    max_output_tokens: int = 4000
    temperature: float = 0.1
    connect_timeout: float = 10
    read_timeout: float = 180
    max_wait: float = 10  # longer waits are left to Celery's countdown
    app_url: str = ""  # sent to OpenRouter as HTTP-Referer (app attribution), when set
    max_inflight: int = 0  # model calls in flight in this process at most (0: no cap)
    inflight_wait: float = 120  # seconds a call may wait for a free slot


class LLMError(ServiceError):
    """A review call that failed; `raw_output` keeps the model's last answer when that answer
    was the problem, and `usage` what the calls answered before the failure cost (a failed
    review is billed too: the first answer of a failed repair, the chunks that did answer).

    `unavailable`: the model itself could not answer for now (it kept answering 429 or 5xx,
    or timing out), so another model may; not set for Prism's own limits, which every
    model shares, nor for permanent errors."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        raw_output: str = "",
        usage: Usage | None = None,
        unavailable: bool = False,
    ):
        super().__init__(message, permanent=permanent, retry_after=retry_after)
        self.raw_output = raw_output
        self.usage = usage or Usage()
        self.unavailable = unavailable and not permanent


class LLMClient:
    def __init__(
        self,
        config: LLMConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        if config.response_format not in RESPONSE_FORMATS:
            raise ValueError(f"response_format must be one of {RESPONSE_FORMATS}")
        self.config = config
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        # Shared with every other client of this process (one per review): see throttle.py.
        self._gate = throttle.gate(config.base_url, config.model)
        self._slots = throttle.slots(config.max_inflight)
        # Stepped down for the client's lifetime when the server refuses it: a review makes
        # many calls and each refused one would cost a round trip.
        self.response_format = config.response_format
        self._openrouter = urlsplit(config.base_url).hostname in {
            "openrouter.ai",
            "www.openrouter.ai",
        }

    def review(self, messages: list[dict]) -> ReviewOutput:
        """Ask for a review; if the answer is not valid review JSON, ask once more saying why."""
        tally = Tally(model=self.config.model)
        try:
            return self._review(messages, tally)
        except LLMError as exc:
            exc.usage = tally.usage()
            raise

    def answer(self, messages: list[dict]) -> "TextAnswer":
        """Ask for prose (a person's question about the change): no response format, and
        no repair round; an empty or truncated answer is still an answer, said as such."""
        tally = Tally(model=self.config.model)
        try:
            answer = self._complete(messages, tally, structured=False)
        except LLMError as exc:
            exc.usage = tally.usage()
            raise
        return TextAnswer(text=answer.text, truncated=answer.truncated, usage=tally.usage())

    def _review(self, messages: list[dict], tally: Tally) -> ReviewOutput:
        answer = self._complete(messages, tally)
        try:
            summary, findings = parse_review(answer.text, truncated=answer.truncated)
        except InvalidOutput as exc:
            logger.warning("LLM answer unusable, asking once more: %s", exc)
            repair = [*messages, assistant(answer.text), user(exc.repair_request)]
            answer = self._complete(repair, tally)
            try:
                summary, findings = parse_review(answer.text, truncated=answer.truncated)
            except InvalidOutput as again:
                raise LLMError(
                    f"the model's answer is unusable after one repair attempt: {again}",
                    permanent=True,
                    raw_output=answer.text,
                ) from again
        return tally.output(summary, findings)

    # --- one completion, with format fallback and transient retries ------------------------

    def _complete(self, messages: list[dict], tally: Tally, *, structured: bool = True) -> Answer:
        while True:
            try:
                payload = self._post(self._body(messages, structured=structured), tally)
            except _FormatRejected as exc:
                self._step_down(exc)
                continue
            tally.add(payload)
            return Answer.of(payload)

    def _body(self, messages: list[dict], *, structured: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_output_tokens,
        }
        if not structured:
            pass
        elif self.response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": FINDINGS_SCHEMA},
            }
        elif self.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        if self._openrouter:
            # Without it OpenRouter may route to a provider that silently ignores
            # response_format or max_tokens.
            body["provider"] = {"require_parameters": True}
        return body

    def _step_down(self, exc: "_FormatRejected") -> None:
        current = self.response_format
        if current == "none":
            raise LLMError(
                f"the LLM provider rejected the request ({exc.status}): {exc.message}",
                permanent=True,
            )
        self.response_format = RESPONSE_FORMATS[RESPONSE_FORMATS.index(current) + 1]
        logger.warning(
            "LLM server refused response_format=%s (%s), using %s from now on",
            current,
            exc.status,
            self.response_format,
        )

    def _post(self, body: dict[str, Any], tally: Tally) -> dict[str, Any]:
        attempt = 1
        while True:
            try:
                return self._post_when_open(body, tally, attempt)
            except _Transient as exc:
                wait = self._backoff(exc, attempt)
                if exc.outcome == "rate_limited":
                    metrics.observe_rate_limit_wait("llm", wait)
                if wait > self.config.max_wait or attempt >= MAX_ATTEMPTS:
                    retry_after = wait if wait > self.config.max_wait else exc.retry_after
                    raise LLMError(
                        f"the LLM provider is unavailable: {exc.message}",
                        permanent=False,
                        retry_after=retry_after,
                        unavailable=True,
                    ) from None
                logger.warning(
                    "LLM provider unavailable, retrying in %.1fs model=%s: %s",
                    wait,
                    self.config.model,
                    exc.message,
                )
                if not exc.slow_down:  # a closed gate is waited for before the next call
                    # Jitter spreads out the retries of concurrent review calls.
                    self._sleep(wait * random.uniform(1.0, 1.25))
                attempt += 1

    def _backoff(self, exc: "_Transient", attempt: int) -> float:
        """How long to wait before the next attempt: what the server said, else exponential."""
        if exc.retry_after is not None:
            return exc.retry_after
        return min(self.config.max_wait, 2.0 ** (attempt - 1))

    def _post_when_open(self, body: dict[str, Any], tally: Tally, attempt: int) -> dict[str, Any]:
        """One call, once the model's gate is open and a call slot is free."""
        gated = 0.0
        while True:
            remaining = self._gate.remaining(now=self._clock())
            if remaining > 0:
                if remaining > self.config.max_wait or gated + remaining > GATE_BUDGET:
                    raise LLMError(
                        f"the LLM provider is rate limiting {self.config.model}: "
                        f"calls wait another {remaining:.0f}s",
                        permanent=False,
                        retry_after=remaining,
                        unavailable=True,
                    )
                logger.info(
                    "LLM rate limited: waiting %.1fs with every call of model=%s",
                    remaining,
                    self.config.model,
                )
                # Jitter: when the gate opens, its waiters don't all call in the same instant.
                pause = remaining * random.uniform(1.0, 1.25)
                self._sleep(pause)
                gated += pause
                tally.waited += pause
                continue
            if self._slots is None:
                return self._post_gated(body, attempt)
            try:
                with self._slots.hold(
                    timeout=self.config.inflight_wait, model=self.config.model
                ) as waited:
                    tally.waited += waited
                    if self._gate.remaining(now=self._clock()) > 0:
                        continue  # a rate limit closed the gate while we waited for the slot
                    return self._post_gated(body, attempt)
            except throttle.NoSlot as exc:
                raise LLMError(
                    f"every model call slot stayed busy for {exc.waited:.0f}s "
                    f"(LLM_MAX_INFLIGHT={exc.limit}); the review will be retried",
                    permanent=False,
                ) from None

    def _post_gated(self, body: dict[str, Any], attempt: int) -> dict[str, Any]:
        try:
            return self._post_once(body)
        except _Transient as exc:
            if exc.slow_down:
                # Every caller of this model waits with us, this review's other chunks and
                # every other review of the process (throttle.py). Closed before the call
                # slot is released, so no caller slips a call in between.
                self._gate.close_for(self._backoff(exc, attempt), now=self._clock())
            raise

    def _post_once(self, body: dict[str, Any]) -> dict[str, Any]:
        """One request, recorded in the metrics whatever its outcome."""
        started = time.perf_counter()
        outcome, usage = "unreachable", dict[str, Any]()
        try:
            with metrics.model_call_in_flight(self.config.model):
                payload = self._exchange(body)
            outcome, usage = "ok", payload.get("usage") or {}
            return payload
        except _Transient as exc:
            outcome = exc.outcome
            raise
        except _FormatRejected:
            outcome = "format_rejected"
            raise
        except LLMError:
            outcome = "rejected"
            raise
        finally:
            metrics.observe_model_answer(
                self.config.model, outcome, time.perf_counter() - started, usage
            )

    def _exchange(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._session.post(
                f"{self.config.base_url.rstrip('/')}/chat/completions",
                json=body,
                headers=self._headers(),
                timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(
                f"could not reach it ({type(exc).__name__})", outcome="unreachable"
            ) from None
        except requests.RequestException as exc:
            raise LLMError(
                f"could not call the LLM provider ({type(exc).__name__})", permanent=True
            ) from None
        payload = json_or_none(response)
        error = error_of(response, payload)
        if error is not None:
            status, message = error
            self._raise_for(status, self._scrub(message), retry_after_of(response))
        if not payload or not payload.get("choices"):
            raise _Transient("it answered without choices", outcome="bad_answer")
        if (payload["choices"][0] or {}).get("finish_reason") == "error":
            raise _Transient("the model failed while answering", outcome="bad_answer")
        return payload

    def _headers(self) -> dict[str, str]:
        headers = {}
        # Local servers (Ollama, llama.cpp) need no key; an empty Bearer confuses some proxies.
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        if self._openrouter:
            if self.config.app_url:
                headers["HTTP-Referer"] = self.config.app_url
            headers["X-Title"] = APP_TITLE
        return headers

    def _raise_for(self, status: int, message: str, retry_after: float | None) -> None:
        if status in FORMAT_REJECTION_STATUSES and FORMAT_REJECTION.search(message):
            raise _FormatRejected(status, message)
        # OpenRouter's in-flight spending budget answers 402 with Retry-After: a wait, not
        # an empty account.
        if status in TRANSIENT_STATUSES or status >= 500 or (status == 402 and retry_after):
            # A rate limit, or any answer that says how long to wait (OpenRouter's 402
            # spending limit, a 503 with Retry-After), is meant for every caller.
            slow_down = status in RATE_LIMIT_STATUSES or retry_after is not None
            outcome = "rate_limited" if status in (402, 429) else "server_error"
            raise _Transient(
                f"{status}: {message}", retry_after, slow_down=slow_down, outcome=outcome
            )
        raise LLMError(permanent_message(status, message), permanent=True)

    def _scrub(self, message: str) -> str:
        # Some providers echo the key they refused; nothing from a response reaches an
        # exception or a log line without this.
        if self.config.api_key:
            message = message.replace(self.config.api_key, "[api key]")
        message = " ".join(redact(message)[0].split())
        return message[:300] or "(no message)"


class _Transient(Exception):
    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        slow_down: bool = False,
        outcome: str = "server_error",
    ):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.slow_down = slow_down  # close the model's gate for everyone, not only this call
        self.outcome = outcome  # for the metrics: rate_limited, server_error, unreachable...


class _FormatRejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message
