"""Client for any OpenAI-compatible chat-completions server: OpenRouter, OpenAI, vLLM, Ollama,
llama.cpp. One call asks for a review of one chunk and returns validated findings.

https://platform.openai.com/docs/api-reference/chat/create
https://openrouter.ai/docs/api/reference/overview
https://openrouter.ai/docs/api/reference/errors-and-debugging
"""

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from reviews import metrics
from reviews.errors import ServiceError
from reviews.llm.response import FINDINGS_SCHEMA, InvalidOutput, parse_review
from reviews.redaction import redact
from reviews.results import Finding, Usage

logger = logging.getLogger(__name__)

SCHEMA_NAME = "prism_review"
RESPONSE_FORMATS = ("json_schema", "json_object", "none")
APP_TITLE = "Prism"

MAX_ATTEMPTS = 3  # per call, in this process; Celery retries the whole review after that
TRANSIENT_STATUSES = {408, 429}
# Servers refuse an unsupported response_format with 400 (OpenAI, vLLM), 422 (some proxies)
# or, on OpenRouter with require_parameters, 404 "no endpoints ... requested parameters".
FORMAT_REJECTION_STATUSES = {400, 404, 422}
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


class LLMError(ServiceError):
    """A review call that failed; `raw_output` keeps the model's last answer when that answer
    was the problem, and `usage` what the calls answered before the failure cost (a failed
    review is billed too: the first answer of a failed repair, the chunks that did answer)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        raw_output: str = "",
        usage: Usage | None = None,
    ):
        super().__init__(message, permanent=permanent, retry_after=retry_after)
        self.raw_output = raw_output
        self.usage = usage or Usage()


@dataclass(frozen=True)
class ReviewOutput:
    summary: str
    findings: list[Finding]
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    calls: int


class LLMClient:
    def __init__(
        self,
        config: LLMConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if config.response_format not in RESPONSE_FORMATS:
            raise ValueError(f"response_format must be one of {RESPONSE_FORMATS}")
        self.config = config
        self._session = session or requests.Session()
        self._sleep = sleep
        # Stepped down for the client's lifetime when the server refuses it: a review makes
        # many calls and each refused one would cost a round trip.
        self.response_format = config.response_format
        self._openrouter = urlsplit(config.base_url).hostname in {
            "openrouter.ai",
            "www.openrouter.ai",
        }

    def review(self, messages: list[dict]) -> ReviewOutput:
        """Ask for a review; if the answer is not valid review JSON, ask once more saying why."""
        tally = _Tally(model=self.config.model)
        try:
            return self._review(messages, tally)
        except LLMError as exc:
            exc.usage = tally.usage()
            raise

    def _review(self, messages: list[dict], tally: "_Tally") -> ReviewOutput:
        answer = self._complete(messages, tally)
        try:
            summary, findings = parse_review(answer.text, truncated=answer.truncated)
        except InvalidOutput as exc:
            logger.warning("LLM answer unusable, asking once more: %s", exc)
            repair = [*messages, _assistant(answer.text), _user(exc.repair_request)]
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

    def _complete(self, messages: list[dict], tally: "_Tally") -> "_Answer":
        while True:
            try:
                payload = self._post(self._body(messages))
            except _FormatRejected as exc:
                self._step_down(exc)
                continue
            tally.add(payload)
            return _Answer.of(payload)

    def _body(self, messages: list[dict]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_output_tokens,
        }
        if self.response_format == "json_schema":
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

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        attempt = 1
        while True:
            try:
                return self._post_once(body)
            except _Transient as exc:
                wait = exc.retry_after
                if wait is None:
                    wait = min(self.config.max_wait, 2.0 ** (attempt - 1))
                if exc.outcome == "rate_limited":
                    metrics.observe_rate_limit_wait("llm", wait)
                if wait > self.config.max_wait or attempt >= MAX_ATTEMPTS:
                    retry_after = wait if wait > self.config.max_wait else exc.retry_after
                    raise LLMError(
                        f"the LLM provider is unavailable: {exc.message}",
                        permanent=False,
                        retry_after=retry_after,
                    ) from None
                logger.warning("LLM provider unavailable, retrying in %.1fs: %s", wait, exc.message)
                # Jitter spreads out the retries of concurrent review calls.
                self._sleep(wait * random.uniform(1.0, 1.25))
                attempt += 1

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
            _observe(self.config.model, outcome, time.perf_counter() - started, usage)

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
        payload = _json_or_none(response)
        error = _error_of(response, payload)
        if error is not None:
            status, message = error
            self._raise_for(status, self._scrub(message), _retry_after(response))
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
            limited = status in (402, 429)
            outcome = "rate_limited" if limited else "server_error"
            raise _Transient(f"{status}: {message}", retry_after, outcome=outcome)
        raise LLMError(_permanent_message(status, message), permanent=True)

    def _scrub(self, message: str) -> str:
        # Some providers echo the key they refused; nothing from a response reaches an
        # exception or a log line without this.
        if self.config.api_key:
            message = message.replace(self.config.api_key, "[api key]")
        message = " ".join(redact(message)[0].split())
        return message[:300] or "(no message)"


def _permanent_message(status: int, message: str) -> str:
    if status == 402:
        return f"the LLM provider says the account has no credit (402): {message}"
    if status == 401:
        return f"the LLM provider rejected the API key (401): {message}"
    if status == 403:
        return f"the LLM provider refused the request (403): {message}"
    return f"the LLM provider rejected the request ({status}): {message}"


def _json_or_none(response: requests.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _error_of(response: requests.Response, payload: dict | None) -> tuple[int, str] | None:
    """(status, message) when the call failed, including OpenRouter's errors inside a 200."""
    error = (payload or {}).get("error")
    message = error.get("message", "") if isinstance(error, dict) else str(error or "")
    if not response.ok:
        return response.status_code, message or response.text
    if not error:
        return None
    code = str(error.get("code") if isinstance(error, dict) else None)
    # A 200 body's error carries the HTTP status it would have had; when it doesn't, the
    # model failed mid-answer, which OpenRouter reports as 502.
    return (int(code) if code.isdigit() else 502), message or json.dumps(error)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _observe(model: str, outcome: str, seconds: float, usage: dict[str, Any]) -> None:
    """The metrics of one request: its outcome and time, the tokens and the cost its answer
    reported (the provider's own `usage.cost`, as OpenRouter sends it)."""
    metrics.observe_model_call(
        model=model,
        outcome=outcome,
        seconds=seconds,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
    )
    cost = usage.get("cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        metrics.observe_model_cost(model, float(cost))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class _Transient(Exception):
    def __init__(
        self, message: str, retry_after: float | None = None, *, outcome: str = "server_error"
    ):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.outcome = outcome  # for the metrics: rate_limited, server_error, unreachable...


class _FormatRejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class _Answer:
    text: str
    truncated: bool

    @classmethod
    def of(cls, payload: dict[str, Any]) -> "_Answer":
        choice = payload["choices"][0] or {}
        message = choice.get("message") or {}
        # A structured-output refusal has no content; keep its text for the operator.
        content = message.get("content") or message.get("refusal") or ""
        if isinstance(content, list):  # content parts, as some servers send them
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return cls(text=str(content), truncated=choice.get("finish_reason") == "length")


@dataclass
class _Tally:
    """Usage summed over every answered call of one review, the repair call included."""

    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    calls: int = 0

    def add(self, payload: dict[str, Any]) -> None:
        usage = payload.get("usage") or {}
        self.calls += 1
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        if isinstance(usage.get("cost"), int | float):
            self.cost = (self.cost or 0.0) + usage["cost"]
        self.model = payload.get("model") or self.model

    def usage(self) -> Usage:
        return Usage(
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
            calls=self.calls,
        )

    def output(self, summary: str, findings: list[Finding]) -> ReviewOutput:
        return ReviewOutput(
            summary=summary,
            findings=findings,
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
            calls=self.calls,
        )


def _assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def _user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}
