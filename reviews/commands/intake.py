"""What the webhook decides about a comment, before anything is stored. Pure.

A command is recorded (and handed to the worker) only when a new comment on a pull request
starts with `@<bot>`; everything else is answered "ignored" with the reason. Other bots'
comments are dropped here; Prism's own are recognised in the worker, which knows its login.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reviews.commands import parse
from reviews.github import comment_events


@dataclass(frozen=True)
class Intake:
    comment: comment_events.PullRequestComment | None
    command: parse.Command | None = None
    reason: str = ""  # why it is ignored

    @property
    def record(self) -> bool:
        return self.command is not None


def decide(event: str, payload: dict[str, Any], bot_names: str | Sequence[str]) -> Intake:
    """`bot_names`: the names a command may address (reviews/commands/names.py)."""
    names = (bot_names,) if isinstance(bot_names, str) else tuple(bot_names)
    reading = comment_events.read(event, payload)
    comment = reading.comment
    if comment is None:
        return Intake(None, reason=reading.reason)
    if comment.author_type == "Bot":
        return Intake(comment, reason=f"comment by the bot {comment.author!r}")
    command = next(
        (found for name in names if (found := parse.parse(comment.body, name)) is not None), None
    )
    if command is None:
        return Intake(comment, reason=f"not a command for {' or '.join('@' + n for n in names)}")
    return Intake(comment, command)
