"""Text on its way into the database or a log line: no configured credential, no NUL.

A GitHub or model error can quote the request that failed, and an exception can quote
a setting; every credential Prism is configured with is removed from anything it stores
or logs, whatever the text. PostgreSQL refuses NUL in text and JSON, and a failure that
cannot be saved would leave a review running and billed again, so NULs go too.
"""

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings

REDACTED = "[redacted]"
# The settings that hold credentials; a short value is a placeholder, not a secret.
CREDENTIAL_SETTINGS = (
    "GITHUB_TOKEN",
    "GITHUB_APP_PRIVATE_KEY",
    "LLM_API_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "SECRET_KEY",
    "METRICS_TOKEN",
)
_MIN_LENGTH = 6


def configured_credentials() -> list[str]:
    values = (getattr(settings, name, "") or "" for name in CREDENTIAL_SETTINGS)
    # Longest first, so a credential that contains another is removed whole.
    return sorted({v for v in values if len(v) >= _MIN_LENGTH}, key=len, reverse=True)


def scrub(text: str, credentials: Iterable[str] | None = None) -> str:
    for credential in configured_credentials() if credentials is None else credentials:
        text = text.replace(credential, REDACTED)
    return text.replace("\x00", "")


def scrub_json(value: Any) -> Any:
    """`scrub` over every string, key or value, of a JSON document."""
    credentials = configured_credentials()

    def clean(item: Any) -> Any:
        if isinstance(item, str):
            return scrub(item, credentials)
        if isinstance(item, dict):
            return {clean(key): clean(inner) for key, inner in item.items()}
        if isinstance(item, list | tuple):
            return [clean(inner) for inner in item]
        return item

    return clean(value)


class CredentialFilter(logging.Filter):
    """On the log handlers: every record leaves with its credentials removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = scrub(message), None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True
