"""A stand-in for an OpenAI-compatible chat-completions server.

It answers schema-valid findings on real added lines of the diff it was sent (read back from
the prompt's numbered diff lines, `  550 + text`), and can be slow or fail on demand for the
pull requests whose prompt contains a given needle (we put one in each PR's title). By
default one finding per chunk, on its first added line; a plan can ask for more, and only on
the added lines that hold a given text (the "bad code" a later commit fixes).
"""

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.e2e.local_server import LocalServer, respond

_FILE = re.compile(r"^FILE (.+) \([^()]*\)$")
_ADDED = re.compile(r"^ *(\d+) \+ (.*)$")
# The stack's LLM_FALLBACK_MODELS; LLM_MODEL is Prism's default.
PRIMARY_MODEL, FALLBACK_MODEL = "openai/gpt-4o-mini", "fake/e2e-fallback"
NON_JSON = "Sure! I looked at the change and it seems fine to me overall."
# What Prism's prompt for a question says (reviews/llm/questions.py): answered in prose.
QUESTION = "asked you a question about it"


@dataclass
class Plan:
    """What to do for the prompts that contain `needle`."""

    failures: list[str] = field(default_factory=list)  # "429", "500", "nonjson": once each
    always: str | None = None  # "nonjson": every answer
    hold: float = 0.0  # seconds to sit on the first request (a slow model)
    holds_left: int = 0
    echo: str | None = None  # text put back into the finding (a hostile PR's own words)
    held: int = 0  # requests that were held (so a test knows a review is mid-call)
    findings_per_chunk: int = 1  # one finding per added line, up to this many per chunk
    flag: str | None = None  # only on added lines containing this text
    answer: str = "The change validates its input before use."  # to a question (@prism ask)
    down: tuple[str, ...] = ()  # models that answer 503 every time (a fallback's primary)


@dataclass
class Call:
    body: bytes
    headers: dict[str, str]
    started: float

    def prompt(self) -> str:
        messages = json.loads(self.body)["messages"]
        return "\n".join(str(m.get("content", "")) for m in messages)


class FakeLLM(LocalServer):
    url_path = "/v1"

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.plans: dict[str, Plan] = {}
        self.calls: list[Call] = []
        self.stopping = threading.Event()
        self.latency = 0.0  # seconds every answer takes (a slow model), on top of any hold
        self._listen(_handler(self))

    def stop(self) -> None:
        self.stopping.set()  # release held requests so the server can shut down
        super().stop()

    def plan(self, needle: str, **behaviour: Any) -> Plan:
        plan = Plan(**behaviour)
        if plan.hold and not plan.holds_left:
            plan.holds_left = 1
        with self.lock:
            self.plans[needle] = plan
        return plan

    def calls_for(self, needle: str) -> list[Call]:
        """The calls about one pull request: their prompt holds its needle (its title)."""
        with self.lock:
            calls = list(self.calls)
        return [c for c in calls if needle in c.prompt()]

    def answer(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        if call.headers.get("authorization") != f"Bearer {self.api_key}":
            return _json(401, {"error": {"message": "Invalid API key", "code": 401}})
        prompt = call.prompt()
        with self.lock:
            needle = next((n for n in self.plans if n in prompt), None)
            plan = self.plans.get(needle) if needle else None
            failure = plan.failures.pop(0) if plan and plan.failures else None
            hold = 0.0
            if plan and plan.holds_left > 0 and failure is None:
                plan.holds_left -= 1
                plan.held += 1
                hold = plan.hold
        if hold or self.latency:
            self.stopping.wait(hold + self.latency)
        model = str(json.loads(call.body).get("model", ""))
        if plan and model in plan.down:
            return _json(503, {"error": {"message": f"{model} is overloaded", "code": 503}})
        if failure == "429":
            return _json(429, {"error": {"message": "Rate limit exceeded", "code": 429}}, "1")
        if failure == "500":
            return _json(500, {"error": {"message": "Internal server error", "code": 500}})
        if failure == "nonjson" or (plan and plan.always == "nonjson"):
            return _json(200, completion(NON_JSON, model))
        if QUESTION in prompt:
            return _json(200, completion((plan or Plan()).answer, model))
        findings = list(_findings(prompt, plan or Plan()))
        summary = "The change looks reasonable; one line deserves a second look."
        if plan and plan.echo:
            summary = f"Summary as requested: {plan.echo}"
        answer = json.dumps({"summary": summary, "findings": findings})
        return _json(200, completion(answer, model))


def completion(content: str, model: str = "") -> dict[str, Any]:
    return {
        "id": "gen-e2e",
        "model": model or "fake/e2e-model",  # the model asked, as OpenRouter names it
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 50},
    }


def added_lines(prompt: str) -> Iterator[tuple[str, int, str]]:
    """(path, new line number, text) of every added line in the prompt's rendered diff."""
    path = None
    for line in prompt.splitlines():
        header = _FILE.match(line)
        if header:
            path = header[1]
            continue
        added = _ADDED.match(line)
        if added and path:
            yield path, int(added[1]), added[2]


def _findings(prompt: str, plan: Plan) -> Iterator[dict[str, Any]]:
    # One finding on each of the chunk's first added lines (the first one only, by default):
    # enough for an inline comment, and stable, so a second review of the same text finds the
    # same things (the same title on the same line text: the ledger's identity).
    echo = plan.echo
    lines = [(p, n) for p, n, text in added_lines(prompt) if not plan.flag or plan.flag in text]
    for path, line in lines[: plan.findings_per_chunk]:
        yield {
            "path": path,
            "line": line,
            "end_line": None,
            "category": "bug",
            "severity": "high",
            "title": echo or "Unchecked value on this line",
            "body": echo or "The value is used before it is validated.",
            "suggestion": None,
        }


def _json(status: int, data: Any, retry_after: str | None = None) -> tuple:
    headers = {"Content-Type": "application/json"}
    if retry_after:
        headers["Retry-After"] = retry_after
    return status, headers, json.dumps(data).encode()


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            call = Call(
                body=self.rfile.read(length),
                headers={k.lower(): v for k, v in self.headers.items()},
                started=time.monotonic(),
            )
            with fake.lock:
                fake.calls.append(call)
            if self.path != "/v1/chat/completions":
                status, headers, body = _json(404, {"error": {"message": "no such route"}})
            else:
                status, headers, body = fake.answer(call)
            # The client may have gone away: its worker was killed mid-call.
            with contextlib.suppress(OSError):
                respond(self, status, headers, body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
