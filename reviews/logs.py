"""What every log line carries: the review or delivery it belongs to, and, with LOG_FORMAT=json,
one JSON object per line.

Where a review or a delivery starts (the Celery task, `review_pr --sync`, the webhook view),
`bound(...)` puts its analysis id, delivery id, repository and PR number in a context variable;
`ContextFilter` (on the log handler, settings.LOGGING) copies them onto every record logged
inside, from any module, without anyone passing them by hand. Threads started inside get them
through `carrying_context` (a new thread starts with an empty context).
"""

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from reviews.scrub import scrub

# The fields, in the order a JSON line shows them.
FIELDS = ("analysis_id", "command_id", "delivery_id", "repo", "pr")

# An immutable mapping: a block adds fields by setting a new one, never by changing this one.
_context: contextvars.ContextVar[MappingProxyType[str, Any]] = contextvars.ContextVar(
    "prism_log_context", default=MappingProxyType({})
)

T = TypeVar("T")
R = TypeVar("R")


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Every line logged inside carries these fields (None values are left out); nested
    blocks add to the outer one's."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {sorted(unknown)}")
    added = {name: value for name, value in fields.items() if value is not None}
    token = _context.set(MappingProxyType({**_context.get(), **added}))
    try:
        yield
    finally:
        _context.reset(token)


def carrying_context(function: Callable[[T], R]) -> Callable[[T], R]:
    """`function`, run in a copy of the caller's context: for a thread pool's workers, which
    would otherwise log without the review's fields. A copy per call, since one context
    cannot be entered by two threads at once."""
    context = contextvars.copy_context()

    def run(argument: T) -> R:
        return context.copy().run(function, argument)

    return run


class ContextFilter(logging.Filter):
    """On the log handler: copies the bound fields onto each record (JSON shows them as keys)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time, level, logger, message, the bound fields, and the
    traceback. Credentials are scrubbed from the whole line: the credentials filter cleans
    the message, but python-json-logger formats a traceback again from the exception."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        super().__init__("%(levelname)s %(name)s %(message)s", **kwargs)

    def formatException(self, ei: Any) -> str:
        return _scrubbed(str(super().formatException(ei)))

    def format(self, record: logging.LogRecord) -> str:
        return _scrubbed(super().format(record))


def _scrubbed(text: str) -> str:
    try:
        return scrub(text)
    except ImproperlyConfigured:
        # Settings that cannot load (gunicorn's master reporting why its workers fail): this
        # process holds no credential then, and the line must still be written.
        return text
