"""Find credentials in text (a diff, a PR description) before it leaves for a third-party model.

Pure regexes, compiled once. The aim is that no real credential is sent, while ordinary code
stays readable to the model: `password = os.environ["DB_PASSWORD"]` or `token = None` is not
a secret, `password = "hunter2-prod!"` is. Where the pattern names a key and a value, only the
value is replaced, so the model still sees that a credential was hard-coded there.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SecretMatch:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    # Only this named group is the secret; the rest of the match is context that stays visible.
    group: str | None = None
    # Names of fields and settings ("password_confirmation", "auth.token") are assigned as
    # strings in ordinary code; flagging them would blind the model to harmless lines.
    skip_identifiers: bool = False


_BASE64_LINE = r"\n[^\n]{0,16}?[A-Za-z0-9+/=]{16,}[ \t]*(?=\n|$)"
_KEY_NAME = (
    r"(?<![\w.-])[\w.-]*"
    r"(?:password|passwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|credentials?)"
)

# Specific, self-identifying formats come first: when two matches start together the earlier
# pattern names the kind.
_PATTERNS = (
    _Pattern(
        "private-key",
        re.compile(
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
            # Either the whole block up to its END line, or, when the END line is not in this
            # text (a diff chunk cut mid-key), the base64 lines that follow the BEGIN line.
            r"(?:[\s\S]{0,10000}?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
            rf"|(?:{_BASE64_LINE})*)"
        ),
    ),
    _Pattern(
        "github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_\w{22,255})")
    ),
    _Pattern("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")),
    _Pattern(
        "aws-secret-access-key",
        re.compile(
            r"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*(?:=|:|:=|=>)\s*[\"']?"
            r"(?P<value>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
        ),
        group="value",
    ),
    _Pattern("openrouter-key", re.compile(r"\bsk-or-v1-[A-Za-z0-9]{32,}")),
    _Pattern("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    # Real keys are random and so practically always hold a digit; words joined by dashes
    # ("sk-some-css-class-name") do not.
    _Pattern("openai-key", re.compile(r"\bsk-(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}")),
    _Pattern("slack-token", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}")),
    _Pattern("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    _Pattern("stripe-key", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{24,}")),
    _Pattern(
        "jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")
    ),
    _Pattern(
        "bearer-token", re.compile(r"\bBearer\s+(?P<value>[A-Za-z0-9._~+/-]{20,}=*)"), "value"
    ),
    _Pattern(
        "url-credentials",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<value>[^/\s:@${}<>]{8,})@"),
        group="value",
    ),
    _Pattern(
        "secret-assignment",
        re.compile(
            rf"(?i){_KEY_NAME}[\"']?\s*(?:=|:|:=|=>)\s*"
            r"(?P<quote>[\"'])(?P<value>[^\"'\s]{8,})(?P=quote)"
        ),
        group="value",
        skip_identifiers=True,
    ),
    # .env and shell files: unquoted values after an upper-case name. A value starting with
    # `$` or holding brackets or quotes is code or a reference, not the secret itself.
    _Pattern(
        "secret-assignment",
        re.compile(
            r"(?<![\w.])(?:export\s+)?[A-Z0-9_]*"
            r"(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY)[A-Z0-9_]*="
            r"(?P<value>(?!\$)[^\s\"'`(){}\[\]<>,;]{12,})(?=\s|$)"
        ),
        group="value",
        skip_identifiers=True,
    ),
)

_IDENTIFIER_VALUE = re.compile(r"[a-z]+(?:[_.-][a-z]+)+")


def find_secrets(text: str) -> list[SecretMatch]:
    """Every credential in `text`, in order, overlapping matches merged into one."""
    found = []
    for priority, pattern in enumerate(_PATTERNS):
        for match in pattern.regex.finditer(text):
            start, end = match.span(pattern.group) if pattern.group else match.span()
            if pattern.skip_identifiers and _IDENTIFIER_VALUE.fullmatch(match.group("value")):
                continue
            found.append((start, priority, end, pattern.kind))
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
