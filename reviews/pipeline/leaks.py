"""Credentials in the diff: redacted before anything reaches the model, and each one added
reported as a critical finding (a token pasted into a change is exactly what a reviewer flags).
"""

from dataclasses import replace

from reviews import redaction
from reviews.diffs import parser
from reviews.results import Finding


def redact_files(
    files: list[parser.FileDiff],
) -> tuple[list[parser.FileDiff], list[Finding]]:
    """Replace credentials in every line sent to the model; report each added one as a finding.

    The model is a third party: a token pasted into a diff must not travel there. One on
    an added line is also exactly what a reviewer should flag.

    A hunk is read as the two texts it shows, not line by line: the new side (context and
    added lines) and the old side (context and removed lines). A private key is many
    lines and only its first one says so; read alone, each base64 line of its body looks
    like nothing and would be sent.
    """
    clean_files, leaks = [], []
    for file in files:
        hunks = []
        for hunk in file.hunks:
            spans, file_leaks = _hunk_secrets(hunk)
            leaks += [
                _secret_finding(file.path, first, last, kinds) for first, last, kinds in file_leaks
            ]
            lines = tuple(
                replace(line, text=redaction.replace_spans(line.text, spans[i]))
                if spans[i]
                else line
                for i, line in enumerate(hunk.lines)
            )
            hunks.append(replace(hunk, lines=lines))
        clean_files.append(replace(file, hunks=tuple(hunks)))
    return clean_files, leaks


def _hunk_secrets(
    hunk: parser.Hunk,
) -> tuple[list[list[tuple[int, int, str]]], list[tuple[int, int, list[str]]]]:
    """Per line of the hunk, the spans to redact; and each run of added lines that holds a
    secret, as (first new line number, last new line number, kinds)."""
    spans: list[list[tuple[int, int, str]]] = [[] for _ in hunk.lines]
    leaked: dict[tuple[int, int], list[str]] = {}
    for side in ("+", "-"):
        shown = [i for i, line in enumerate(hunk.lines) if line.kind in (" ", side)]
        for secret in redaction.find_secrets_in_texts([hunk.lines[i].text for i in shown]):
            for index, start, end in secret.spans:
                spans[shown[index]].append((start, end, secret.kind))
            # Every line the secret runs over, blank ones too (PGP armour has one).
            lines = [hunk.lines[shown[index]] for index in secret.texts]
            added = [line.new_lineno for line in lines if line.kind == "+" and line.new_lineno]
            # One finding per run of consecutive added lines of the secret, on the first one:
            # a key whose body is context between two changed lines is two leaks, not one.
            for first, last in _runs(added):
                leaked.setdefault((first, last), [])
                if secret.kind not in leaked[(first, last)]:
                    leaked[(first, last)].append(secret.kind)
    return spans, [(first, last, kinds) for (first, last), kinds in leaked.items()]


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def _secret_finding(path: str, line: int, end_line: int, kinds: list[str]) -> Finding:
    what = ", ".join(kinds)
    return Finding(
        path=path,
        line=line,
        end_line=end_line if end_line > line else None,
        category="security",
        severity="critical",
        title=f"Credential committed in the change ({what})",
        body=(
            f"This change adds what looks like a secret ({what}). Prism redacted it before the "
            "review; treat it as leaked: revoke it, and load it from the environment or a "
            "secret store instead."
        ),
    )
