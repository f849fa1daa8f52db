"""Reading a command out of a comment: `@<bot> <verb> …` at its very start. Pure.

`<bot>` is PRISM_BOT_NAME (case-insensitive). A comment that only mentions Prism later on,
quotes a command (`> @prism review`), or names another bot (`@prismatic`) is not a command.
"""

import re
from dataclasses import dataclass
from enum import StrEnum


class Verb(StrEnum):
    REVIEW = "review"
    FULL_REVIEW = "full_review"
    PAUSE = "pause"
    RESUME = "resume"
    DISMISS = "dismiss"
    ASK = "ask"
    HELP = "help"
    UNKNOWN = "unknown"


# The words a person writes, longest first so "full review" wins over a verb "full".
_WORDS: tuple[tuple[str, Verb], ...] = (
    ("full review", Verb.FULL_REVIEW),
    ("review", Verb.REVIEW),
    ("pause", Verb.PAUSE),
    ("resume", Verb.RESUME),
    ("dismiss", Verb.DISMISS),
    ("ask", Verb.ASK),
    ("help", Verb.HELP),
)
# What the comment says: "@prism full review", "@prism dismiss 42 false positive".
SPOKEN = {verb: word for word, verb in _WORDS}

MAX_ARGUMENT_CHARS = 4_000
# A finding's id as the summary comment shows it (the ledger row's number), or the first
# characters of its fingerprint (as the inline comment's marker carries it).
_FINDING_REF = re.compile(r"#?(\d{1,12})|([0-9a-f]{8,16})")


@dataclass(frozen=True)
class Command:
    verb: Verb
    arguments: str = ""  # everything after the verb, stripped; a question may span lines
    word: str = ""  # the verb as written, for an unknown one's reply


def parse(body: str, bot_name: str) -> Command | None:
    """The command at the start of `body`, or None when the comment is not addressed to us."""
    text = (body or "").lstrip()
    mention = re.match(rf"@{re.escape(bot_name)}(?![\w-])", text, re.IGNORECASE)
    if not bot_name or mention is None:
        return None
    rest = text[mention.end() :].strip()
    for word, verb in _WORDS:
        spoken = re.match(word.replace(" ", r"\s+") + r"(?![\w-])", rest, re.IGNORECASE)
        if spoken is not None:
            arguments = rest[spoken.end() :].strip()
            return Command(verb, arguments[:MAX_ARGUMENT_CHARS], word)
    first = rest.split(maxsplit=1)[0] if rest else ""
    return Command(Verb.UNKNOWN, rest[:MAX_ARGUMENT_CHARS], first[:50])


@dataclass(frozen=True)
class Dismissal:
    finding: str  # "42" or a fingerprint's prefix; "" when none was named
    reason: str


def dismissal(arguments: str) -> Dismissal:
    """`42 false positive` -> finding 42, reason "false positive"; `false positive` alone
    (a reply in the finding's thread) names no finding."""
    parts = arguments.split(maxsplit=1)
    if parts and (match := _FINDING_REF.fullmatch(parts[0].lower())):
        return Dismissal(match[1] or match[2], parts[1].strip() if len(parts) > 1 else "")
    return Dismissal("", arguments.strip())


def opted_out(description: str | None, bot_name: str) -> bool:
    """Whether a pull request's description says `@<bot> ignore` at the start of a line."""
    if not description or not bot_name:
        return False
    pattern = rf"^[ \t]*@{re.escape(bot_name)}[ \t]+ignore(?![\w-])"
    return re.search(pattern, description, re.IGNORECASE | re.MULTILINE) is not None


def help_text(bot_name: str, cap: int) -> str:
    """The command list, as `@prism help` answers it."""
    at = f"@{bot_name}"
    return "\n".join(
        [
            "**Prism commands** (at the start of a comment on this pull request):",
            "",
            "| command | who may run it | what it does |",
            "| --- | --- | --- |",
            f"| `{at} review` | write access | review the head now (only what changed since "
            "the last review, when that is safe) |",
            f"| `{at} full review` | write access | review the whole pull request now |",
            f"| `{at} pause` / `{at} resume` | the author, or write access | stop reviewing "
            "pushes / start again and review the head |",
            f"| `{at} dismiss <id> [reason]` | the author, or write access | dismiss a finding "
            "(its id is in the summary comment; in a finding's thread the id is not needed) |",
            f"| `{at} ask <question>` | write access | ask about the change (in a finding's "
            "thread: about that finding) |",
            f"| `{at} help` | anyone | this list |",
            f"| `{at} ignore` in the description | the author | no automatic reviews of this "
            "pull request |",
            "",
            f"Manual reviews and questions: at most {cap} per pull request.",
        ]
    )
