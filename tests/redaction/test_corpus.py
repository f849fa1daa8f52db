"""Recall on a corpus of credentials, false positives on real diffs, and speed on hostile lines.

tests/fixtures/secrets/corpus.txt holds fake but realistic credentials in the formats the
security issue listed and more, one a line, the secret between « and ». The 25 real diffs are
ordinary code: what is flagged there is listed below, line by line, so a new false positive
fails here.
"""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reviews.redaction import find_secrets, redact
from tests.fixtures import REPO_ROOT, diff_names, diff_text

CORPUS = Path(__file__).parents[1] / "fixtures" / "secrets" / "corpus.txt"
MIN_RECALL = 0.98
_MARKER = re.compile(r"\[REDACTED [\w-]+\]")


def corpus() -> list[tuple[str, str]]:
    """(line as committed, the secret in it)."""
    entries = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            before, rest = line.split("«", 1)
            secret, after = rest.split("»", 1)
            entries.append((before + secret + after, secret))
    return entries


def leaks(line: str, secret: str) -> bool:
    """Whether any 8 characters of the secret survive redaction (more often than the rest of
    the line holds them: `:rubygems_api_key: rubygems_...` names the key's own prefix)."""
    redacted = _MARKER.sub("", redact(line)[0])
    context = line.replace(secret, "")
    if len(secret) < 8:
        return secret in redacted
    pieces = {secret[i : i + 8] for i in range(len(secret) - 7)}
    return any(redacted.count(piece) > context.count(piece) for piece in pieces)


def test_the_corpus_is_large_and_varied():
    entries = corpus()
    assert len(entries) >= 150
    assert len({line for line, _ in entries}) == len(entries)


def test_recall_on_the_corpus_is_at_least_98_percent():
    missed = [line for line, secret in corpus() if leaks(line, secret)]

    recall = 1 - len(missed) / len(corpus())
    assert recall >= MIN_RECALL, f"recall {recall:.1%}; missed:\n" + "\n".join(missed)


# Every line of the real diffs that holds a credential-shaped literal under a credential name.
# All are in documentation or examples of the projects' own releases; they are redacted
# because nothing tells them from a live key. Anything else flagged is a false positive.
EXPECTED_IN_REAL_DIFFS = {
    "22-large-release-range": {"-  apiKey: 'f177061e2354c50a97bfc635e827ffab',"},
    "23-large-release-range-binary": {
        "     SECRET_KEY = '192b9bdd22ab9ed4d12e236c78afcb9a393ec15f71bbf5dc987d54727823bcbf'"
    },
    "24-very-large-release-range": {
        "-    $ export SECRET_KEY='5f352379324c22463451387a0aec5d2f'",
        "-    >set SECRET_KEY='5f352379324c22463451387a0aec5d2f'",
        '+         $ export SECRET_KEY="5f352379324c22463451387a0aec5d2f"',
        '+         > set SECRET_KEY="5f352379324c22463451387a0aec5d2f"',
        '+         > $env:SECRET_KEY = "5f352379324c22463451387a0aec5d2f"',
    },
}


def flagged_lines(text: str) -> set[str]:
    lines = set()
    for match in find_secrets(text):
        start = text.rfind("\n", 0, match.start) + 1
        end = text.find("\n", match.end)
        lines.add(text[start : end if end >= 0 else len(text)])
    return lines


@pytest.mark.parametrize("name", diff_names())
def test_no_false_positive_on_the_real_diffs(name):
    assert flagged_lines(diff_text(name)) == EXPECTED_IN_REAL_DIFFS.get(name, set())


def test_there_are_25_real_diffs():
    assert len(diff_names()) == 25


HOSTILE_PIECES = ["sk-", "-eyJ", "ghs_1_", "a_password", "token: ", "a://b:", "--password "]
HOSTILE_PIECES += ["-----END PRIVATE KEY-----", "<password>", "Authorization: ", "Ab3+/"]


@pytest.mark.parametrize("piece", HOSTILE_PIECES)
def test_a_hostile_one_megabyte_line_is_redacted_in_linear_time(piece):
    # 120,000 characters of "sk-sk-..." took 30 s when a pattern backtracked from every
    # position. Run in a child process with a hard ceiling, far above the measured figure
    # (benchmarks/redaction_speed.py: under 1 s), so a slow machine does not make it flaky
    # while a quadratic pattern (minutes) still fails.
    script = textwrap.dedent(
        f"""
        from reviews.redaction import redact
        piece = {piece!r}
        redact((piece * (1_000_000 // len(piece) + 1))[:1_000_000])
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, check=True, timeout=5)
