"""Reading a chat-completions server's answer: its text, its error and how long it asks us to
wait; and the messages that go back to it. Pure.

https://platform.openai.com/docs/api-reference/chat/object
https://openrouter.ai/docs/api/reference/errors-and-debugging
"""

import json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests


def permanent_message(status: int, message: str) -> str:
    if status == 402:
        return f"the LLM provider says the account has no credit (402): {message}"
    if status == 401:
        return f"the LLM provider rejected the API key (401): {message}"
    if status == 403:
        return f"the LLM provider refused the request (403): {message}"
    return f"the LLM provider rejected the request ({status}): {message}"


def json_or_none(response: requests.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def error_of(response: requests.Response, payload: dict | None) -> tuple[int, str] | None:
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


def retry_after_of(response: requests.Response) -> float | None:
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


@dataclass(frozen=True)
class Answer:
    text: str
    truncated: bool

    @classmethod
    def of(cls, payload: dict[str, Any]) -> "Answer":
        choice = payload["choices"][0] or {}
        message = choice.get("message") or {}
        # A structured-output refusal has no content; keep its text for the operator.
        content = message.get("content") or message.get("refusal") or ""
        if isinstance(content, list):  # content parts, as some servers send them
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return cls(text=str(content), truncated=choice.get("finish_reason") == "length")


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}
