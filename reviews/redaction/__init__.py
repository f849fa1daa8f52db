"""Find credentials in text (a diff, a PR description) before it leaves for a third-party model.

Pure regexes, compiled once, plus a small line walker for multi-line keys. The aim is that no
real credential is sent, while ordinary code stays readable to the model:
`password = os.environ["DB_PASSWORD"]` or `token = None` is not a secret,
`password = "hunter2-prod!"` is. Where the pattern names a key and a value, only the value is
replaced, so the model still sees that a credential was hard-coded there.

Every pattern runs in time linear in the length of the text: a hostile pull request can carry
a single line of a megabyte, and a pattern that backtracks over it from every position takes
minutes. Two rules keep them linear:
- a pattern starts with a literal (which the regex engine scans for quickly), and a
  lookbehind placed after that literal refuses to start inside a run of the token's own
  characters, so `sk-sk-sk-...` offers one start, not one per position;
- every repetition has an upper bound, so no start can scan more than a few kilobytes.
benchmarks/redaction_speed.py measures hostile one-megabyte lines.

Text is read whole, not line by line: a private key spans many lines, and only the first
one names itself. `find_secrets_in_texts` reads several texts (the lines of a diff hunk, a
title and a description) as one, and says which of them each secret touches.
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from reviews.redaction import assignments, private_keys, tokens


@dataclass(frozen=True)
class SecretMatch:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class TextSecret:
    """One secret found across several texts: its kind and, per text it touches, the span."""

    kind: str
    spans: tuple[tuple[int, int, int], ...]  # (index of the text, start, end)

    @property
    def texts(self) -> range:
        return range(self.spans[0][0], self.spans[-1][0] + 1)


def find_secrets(text: str) -> list[SecretMatch]:
    """Every credential in `text`, in order, overlapping matches merged into one."""
    found = [(start, -1, end, "private-key") for start, end in private_keys.find(text)]
    found += tokens.find(text)
    found += assignments.find(text, generic=len(tokens.PATTERNS))
    return _merge(sorted(found))


def _merge(found: list[tuple[int, int, int, str]]) -> list[SecretMatch]:
    merged: list[SecretMatch] = []
    for start, _priority, end, kind in found:
        if merged and start < merged[-1].end:
            last = merged[-1]
            merged[-1] = SecretMatch(last.kind, last.start, max(last.end, end))
        else:
            merged.append(SecretMatch(kind, start, end))
    return merged


# --- Several texts read as one ------------------------------------------------------------


def find_secrets_in_texts(texts: Sequence[str]) -> list[TextSecret]:
    """The secrets of `texts` read as one text, one line after another.

    The lines of a diff hunk, or a title and its description: a key whose BEGIN line is in
    one and whose body is in the next must be found as one key, and every part of it
    removed.
    """
    starts, position = [], 0
    for text in texts:
        starts.append(position)
        position += len(text) + 1
    found = []
    for match in find_secrets("\n".join(texts)):
        first = bisect.bisect_right(starts, match.start) - 1
        last = bisect.bisect_right(starts, max(match.start, match.end - 1)) - 1
        spans = []
        for index in range(first, last + 1):
            offset = starts[index]
            start = max(match.start, offset) - offset
            end = min(match.end, offset + len(texts[index])) - offset
            if end > start:
                spans.append((index, start, end))
        if spans:
            found.append(TextSecret(match.kind, tuple(spans)))
    return found


def replace_spans(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """`text` with each (start, end, kind) replaced by "[REDACTED <kind>]"; overlaps merge."""
    parts, position = [], 0
    for match in _merge(sorted((start, 0, end, kind) for start, end, kind in spans)):
        parts += [text[position : match.start], f"[REDACTED {match.kind}]"]
        position = match.end
    parts.append(text[position:])
    return "".join(parts)


def redact_texts(texts: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Each text redacted, read together with the others; and the kinds found in each."""
    spans: list[list[tuple[int, int, str]]] = [[] for _ in texts]
    for secret in find_secrets_in_texts(texts):
        for index, start, end in secret.spans:
            spans[index].append((start, end, secret.kind))
    return [
        (replace_spans(text, found), list(dict.fromkeys(kind for *_, kind in found)))
        for text, found in zip(texts, spans, strict=True)
    ]


def redact(text: str) -> tuple[str, list[str]]:
    """`text` with each secret replaced by "[REDACTED <kind>]", and the distinct kinds found
    in order of first appearance."""
    matches = find_secrets(text)
    parts, position = [], 0
    for match in matches:
        parts += [text[position : match.start], f"[REDACTED {match.kind}]"]
        position = match.end
    parts.append(text[position:])
    return "".join(parts), list(dict.fromkeys(match.kind for match in matches))
