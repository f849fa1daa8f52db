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

import base64
import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote


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


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    # Only this named group is the secret; the rest of the match is context that stays visible.
    group: str | None = None
    # Characters before the match that belong to the secret (checked by a lookbehind).
    back: int = 0


# Characters of the random part of most API tokens. A token pattern refuses to start right
# after one of them (see the module docstring: this is what keeps the patterns linear).
_TOKEN_CHARS = "A-Za-z0-9_-"  # noqa: S105 (a character class)


def _token(head: str, body: str, lookbehind: str = _TOKEN_CHARS) -> str:
    """The literal `head`, then the pattern `body`, never starting inside a longer run of
    token characters.

    The lookbehind sits after the literal so the engine can still scan for the literal; it
    checks the character before it.
    """
    return rf"{re.escape(head)}(?<![{lookbehind}].{{{len(head)}}}){body}"


# Self-identifying formats. When two matches start together the earlier pattern names the
# kind, so these come before the generic ones.
_PATTERNS = (
    _Pattern(
        "github-token",
        re.compile(
            # ghs_<APP ID>_<JWT>: GitHub's newer installation tokens are about 520 characters
            # and hold dots and dashes.
            _token("gh", r"[pousr]_[A-Za-z0-9_][A-Za-z0-9_.-]{35,1024}")
            + "|"
            + _token("github_pat_", r"\w{22,255}")
        ),
    ),
    _Pattern(
        "gitlab-token",
        re.compile(
            _token(
                "gl",
                r"(?:pat|dt|rt|ptt|cbt|soat|oas|ffct|imt|agent|ft|wt)-[A-Za-z0-9_-]{20,128}",
            )
            + "|"
            + _token("GR1348941", r"[A-Za-z0-9_-]{20,64}")
        ),
    ),
    _Pattern("npm-token", re.compile(_token("npm_", r"[A-Za-z0-9]{36}"))),
    _Pattern("pypi-token", re.compile(_token("pypi-AgE", r"[A-Za-z0-9_-]{50,2048}"))),
    _Pattern(
        "sendgrid-key", re.compile(_token("SG.", r"[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"))
    ),
    _Pattern("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")),
    _Pattern("openrouter-key", re.compile(_token("sk-or-v1-", r"[A-Za-z0-9]{32,256}"))),
    _Pattern("anthropic-key", re.compile(_token("sk-ant-", r"[A-Za-z0-9_-]{20,256}"))),
    # Real keys are random and so practically always hold a digit; words joined by dashes
    # ("sk-some-css-class-name") do not. The lookahead is bounded, so it stays linear.
    _Pattern(
        "openai-key",
        re.compile(_token("sk-", r"(?=[A-Za-z0-9_-]{0,256}?\d)[A-Za-z0-9_-]{20,256}")),
    ),
    _Pattern(
        "slack-token",
        re.compile(
            _token("xox", r"[abposre]-[A-Za-z0-9-]{10,256}")
            + "|"
            + _token("xapp-", r"\d-[A-Za-z0-9-]{10,256}")
        ),
    ),
    _Pattern(
        "slack-webhook",
        re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,256}"),
    ),
    _Pattern(
        "discord-webhook",
        re.compile(r"discord(?:app)?\.com/api/webhooks/\d{5,30}/[A-Za-z0-9_-]{30,128}"),
    ),
    _Pattern("google-api-key", re.compile(_token("AIza", r"[0-9A-Za-z_-]{35}"))),
    _Pattern("google-oauth", re.compile(_token("GOCSPX-", r"[A-Za-z0-9_-]{24,40}"))),
    _Pattern("google-oauth", re.compile(_token("ya29.", r"[A-Za-z0-9_-]{20,2048}"))),
    _Pattern(
        "stripe-key",
        re.compile(
            _token("sk_", r"(?:live|test)_[0-9A-Za-z]{10,256}")
            + "|"
            + _token("rk_", r"(?:live|test)_[0-9A-Za-z]{10,256}")
        ),
    ),
    _Pattern("stripe-key", re.compile(_token("whsec_", r"[0-9A-Za-z]{24,256}"))),
    _Pattern("huggingface-token", re.compile(_token("hf_", r"[A-Za-z0-9]{30,64}"))),
    _Pattern("replicate-token", re.compile(_token("r8_", r"[A-Za-z0-9]{37}"))),
    _Pattern("groq-key", re.compile(_token("gsk_", r"[A-Za-z0-9]{48,64}"))),
    _Pattern("xai-key", re.compile(_token("xai-", r"[A-Za-z0-9]{60,100}"))),
    _Pattern("shopify-token", re.compile(_token("shp", r"(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"))),
    _Pattern("digitalocean-token", re.compile(_token("do", r"[opr]_v1_[a-f0-9]{64}"))),
    _Pattern("doppler-token", re.compile(_token("dp.", r"(?:pt|st|sa|ct)\.[A-Za-z0-9]{40,44}"))),
    _Pattern("databricks-token", re.compile(_token("dapi", r"[a-f0-9]{32}(?:-\d)?"))),
    _Pattern("atlassian-token", re.compile(_token("ATATT3", r"[A-Za-z0-9_=-]{150,256}"))),
    _Pattern("bitbucket-token", re.compile(_token("ATBB", r"[A-Za-z0-9_=.-]{28,64}"))),
    _Pattern("linear-key", re.compile(_token("lin_", r"(?:api|oauth)_[A-Za-z0-9]{40}"))),
    _Pattern("postman-key", re.compile(_token("PMAK-", r"[a-f0-9]{24}-[a-f0-9]{34}"))),
    _Pattern("terraform-token", re.compile(r"\.atlasv1\.[A-Za-z0-9_=-]{60,70}")),
    _Pattern("vault-token", re.compile(_token("hv", r"[sbr]\.[A-Za-z0-9_-]{24,256}"))),
    _Pattern("sentry-token", re.compile(_token("sntry", r"[su]_[A-Za-z0-9_=+/.-]{40,512}"))),
    _Pattern("grafana-token", re.compile(_token("glsa_", r"[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"))),
    _Pattern("grafana-token", re.compile(_token("glc_", r"[A-Za-z0-9+/]{32,400}={0,2}"))),
    _Pattern("newrelic-key", re.compile(_token("NR", r"(?:AK|II|JS)-[A-Za-z0-9]{19,32}"))),
    _Pattern("dynatrace-token", re.compile(_token("dt0c01.", r"[A-Z0-9]{24}\.[A-Z0-9]{64}"))),
    _Pattern("docker-token", re.compile(_token("dckr_", r"(?:pat|oat)_[A-Za-z0-9_-]{20,64}"))),
    _Pattern("supabase-token", re.compile(_token("sbp_", r"[a-f0-9]{40}"))),
    _Pattern("planetscale-token", re.compile(_token("pscale_", r"(?:tkn|pw|oauth)_[\w.-]{32,64}"))),
    _Pattern("pulumi-token", re.compile(_token("pul-", r"[a-f0-9]{40}"))),
    _Pattern("figma-token", re.compile(_token("figd_", r"[A-Za-z0-9_-]{40,64}"))),
    _Pattern(
        "notion-token",
        re.compile(
            _token("ntn_", r"[A-Za-z0-9]{43,46}") + "|" + _token("secret_", r"[A-Za-z0-9]{43}\b")
        ),
    ),
    _Pattern("airtable-token", re.compile(_token("pat", r"[A-Za-z0-9]{14}\.[a-f0-9]{64}"))),
    _Pattern("rubygems-key", re.compile(_token("rubygems_", r"[a-f0-9]{48}"))),
    _Pattern("nuget-key", re.compile(_token("oy2", r"[a-z0-9]{43}"))),
    _Pattern("clojars-token", re.compile(_token("CLOJARS_", r"[a-z0-9]{60}"))),
    _Pattern("mailgun-key", re.compile(_token("key-", r"[0-9a-f]{32}\b"))),
    # Literal first, the 32 hex digits checked behind it: see the module docstring.
    _Pattern(
        "mailchimp-key",
        re.compile(r"-us(?<=(?<![0-9a-f])[0-9a-f]{32}-us)\d{1,2}\b"),
        back=32,
    ),
    _Pattern("twilio-key", re.compile(_token("SK", r"[0-9a-fA-F]{32}\b"))),
    _Pattern("square-token", re.compile(_token("sq0", r"(?:atp|csp)-[A-Za-z0-9_-]{22,64}"))),
    _Pattern("square-token", re.compile(_token("EAAA", r"[A-Za-z0-9_-]{60}"))),
    _Pattern("mapbox-token", re.compile(_token("sk.eyJ", r"[A-Za-z0-9_.-]{40,1024}"))),
    _Pattern("telegram-token", re.compile(r":AA(?<=\d{8}:AA)[A-Za-z0-9_-]{33}\b")),
    _Pattern("alibaba-key", re.compile(_token("LTAI", r"[A-Za-z0-9]{20}\b"))),
    _Pattern(
        "age-secret-key",
        re.compile(r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    ),
    _Pattern(
        "azure-storage-key",
        re.compile(
            r"(?:AccountKey|SharedAccessKey|SharedSecretValue)=(?P<value>[A-Za-z0-9+/=]{20,256})"
        ),
        group="value",
    ),
    # Shared access signatures: the signature is the secret, the rest of the URL is not.
    _Pattern(
        "azure-sas",
        re.compile(r"[?&]sig=(?P<value>[A-Za-z0-9%+/=]{20,256})"),
        group="value",
    ),
    _Pattern(
        "jwt",
        re.compile(
            _token(
                "eyJ", r"[A-Za-z0-9_-]{10,4096}\.eyJ[A-Za-z0-9_-]{10,8192}\.[A-Za-z0-9_-]{10,4096}"
            )
        ),
    ),
    _Pattern(
        "bearer-token",
        re.compile(
            _token("Bearer", r"[ \t]{1,4}(?P<value>[A-Za-z0-9._~+/-]{20,4096}=*)", "A-Za-z0-9_"),
        ),
        group="value",
    ),
    # scheme://user:password@host. The scheme is bounded and may not start inside a longer
    # run of its own characters; the user info may not hold a slash, so no start reads past
    # the next one.
)

# scheme://user:password@host. The scheme is bounded and may not start inside a longer run of
# its own characters; the user info may not hold a slash, so no start reads past the next one.
_URL_PASSWORD = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s/:@?#\"'<>]{0,256}"
    r":(?P<value>[^\s/@?#\"'<>${}]{3,256})@"
)

# A DSN whose user info is a key and no password (Sentry: https://<key>@o1.ingest.sentry.io/1).
# Checked in code: the user must look random, "git@" or "user@" is not a secret.
_URL_USER = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://(?P<value>[A-Za-z0-9_.~%-]{16,256})@"
)

# `Authorization: Basic dXNlcjpw...`, `Authorization: token 1a2b...`: whatever follows the
# scheme is a credential, however short.
_AUTHORIZATION = re.compile(
    r"(?i)authorization[\"']?\]?[ \t]{0,8}[:=][ \t]{0,8}[\"']?"
    r"(?:(?P<scheme>basic|bearer|token|digest|bot|apikey|api-key|key|sso-key|hmac|negotiate"
    r"|ntlm)[ \t]{1,8})?"
    r"(?P<value>[^\s\"'`{}$<>()\[\],;]{6,4096})"
)

# `curl -u user:password`, `--user user:password`, `sshpass -p password`.
_CLI_USER = re.compile(
    _token("-u", r"[ \t=]{1,4}[\"']?[^\s:\"'$]{1,64}:(?P<value>[^\s\"'@$]{3,256})", r"\w-")
    + "|"
    + _token("--user", r"[ \t=]{1,4}[\"']?[^\s:\"'$]{1,64}:(?P<value3>[^\s\"'@$]{3,256})", r"\w-")
    + r"|sshpass[ \t]{1,4}-p[ \t]{1,4}[\"']?(?P<value2>[^\s\"'$]{3,256})"
)

# `--password hunter2`, `--api-token abc...`: an option and its value, separated by a space.
_CLI_OPTION_VALUE = re.compile(
    r"--(?<![\w-]--)[\w-]{0,30}(?:password|passwd|secret|token|api-key|apikey)[ \t]{1,4}"
    r"(?P<value>[^\s\"'$<-][^\s\"']{2,255})"
)
# `Basic <base64 of user:password>` anywhere: decoded before it counts.
_BASIC = re.compile(
    _token("Basic", r"[ \t]{1,4}(?P<value>[A-Za-z0-9+/]{12,1024}={0,2})", "A-Za-z0-9_")
)
# A bare 40-character AWS secret access key, named or not: upper case, lower case and digits
# mixed, as a git hash (lower-case hex) never is.
_AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9+/=])(?=[a-z0-9+/]{0,39}[A-Z])(?=[A-Z0-9+/]{0,39}[a-z])"
    r"(?=[A-Za-z+/]{0,39}\d)[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])"
)

# <password>hunter2</password>, <api_key>...</api_key>.
_XML_ELEMENT = re.compile(
    r"(?i)<(?P<tag>[\w:.-]{0,40}(?:password|passwd|pwd|secret|token|api_?key|access_?key))>"
    r"(?P<value>[^<\s]{3,512})</"
)

# The generic rule: a secret-sounding name followed by a value. The name is matched from its
# last word back, the rest of it is read in code (`_name_before`): a pattern that started at
# the beginning of any identifier and scanned forward to find the word is what was
# quadratic on long identifiers.
_SECRET_WORD = r"secret_key_base|pass(?:word|wd|phrase)?|pwd|secret|credentials?|token|key|auth"  # noqa: S105
_ASSIGNMENT = re.compile(
    rf"(?i)(?P<word>{_SECRET_WORD})"
    # A closing quote or bracket after the name: "password": ..., ['password'] = ...
    r"(?P<close>[\"'`]?\]?)"
    r"[ \t]{0,8}"
    r"(?P<sep>:=|=>|==|=|:(?![:/])|(?<=[\"'])[ \t]{0,8},)"
    r"[ \t]{0,8}"
    r"(?:[bru]{0,2}(?P<quote>[\"'`])(?P<quoted>[^\"'`\s\\]{1,512})(?P=quote)"
    r"|(?P<bare>[^\s\"'`,;(){}\[\]<>]{1,512}))"
)
_CLI_OPTION = re.compile(r"--[\w-]{0,40}$")

# Names whose value is a credential whatever it looks like ("hunter2"). Other names (key,
# token, auth) are also ordinary programming words (`sort_key = "name"`,
# `token = "if"`): for those only a random-looking value counts.
_STRONG_NAME = re.compile(r"(?i)pass|pwd|secret|credential")
# A name ends at one of these words only at a word boundary: `api_key`, `apiKey`, `KEY`,
# but not `monkey`, `bypass` or `oauth`. The longer words may be glued (`dbpassword`).
_GLUED_WORDS = ("password", "passwd", "passphrase", "pwd", "secret", "credential", "credentials")
_NAME_CHAR = re.compile(r"[\w.-]")

# Literals, types and words that stand for a credential in code or tests, never one.
_NOT_A_VALUE_WORDS = (
    "none null nil true false undefined yes no on off required optional empty string str "
    "bytes int integer bool boolean number any object text secretstr char varchar "
    "password passwd pass pwd secret secrets token tokens key keys auth credential "
    "credentials value default changeit redacted masked hidden example sample dummy "
    "placeholder unset todo tbd fixme test testing user username foo bar baz demo"
)
_NOT_A_VALUE = frozenset(_NOT_A_VALUE_WORDS.split())
# Names of fields and settings ("password_confirmation", "auth.token") are assigned as
# strings in ordinary code; flagging them would blind the model to harmless lines.
_IDENTIFIER_VALUE = re.compile(r"[a-z]+(?:[_.-][a-z]+)+")
# Default passwords that are lone words, still credentials (see _strong_value).
_DEFAULT_PASSWORDS_WORDS = "changeme letmein admin root toor qwerty welcome trustno monkey dragon"
_DEFAULT_PASSWORDS = frozenset(_DEFAULT_PASSWORDS_WORDS.split())
_WORDS = re.compile(r"[a-z0-9]+")
# A bare word or a dotted name on the right of an assignment in code is a variable:
# `password = get_password`, `api_key = settings.LLM_API_KEY`.
_CODE_NAME = re.compile(r"[A-Za-z_][A-Za-z_]*(?:\.[A-Za-z_]\w*)*")
_CAMEL_TYPE = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]*)+|[A-Z][a-z]+")
_PLACEHOLDER = re.compile(
    r"(?i)(.)\1{3,}|<[^>]{0,64}>"
    r"|.*(?:\.\.\.|xxxx|\*\*\*|your[_-]|\$\{|\{\{|%\(|%s|\{\w[\w.]{0,40}\}).*"
)
_RANDOM_PART = re.compile(r"(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]{6,}")
_MIXED_CASE_RUN = re.compile(r"(?=[a-z0-9]*[A-Z])(?=[A-Z0-9]*[a-z])[A-Za-z0-9]{20,}")


def _looks_random(value: str) -> bool:
    """A generated token: a run of letters and digits mixed, as words and numbers are not."""
    if len(value) < 8:
        return False
    parts = re.split(r"[^A-Za-z0-9]", value)
    if any(_RANDOM_PART.fullmatch(p) or _MIXED_CASE_RUN.fullmatch(p) for p in parts):
        return True
    # Q7-v9x!mZ2pL: short parts, but upper case, lower case and digits mixed.
    return not value.isalnum() and all(
        any(test(c) for c in value) for test in (str.isupper, str.islower, str.isdigit)
    )


def _is_reference(value: str) -> bool:
    """A value that names where the secret is, or stands for one, but is not one."""
    return (
        value[:1] in "$%@!&*#:"
        or bool(_PLACEHOLDER.fullmatch(value))
        # "pass", "user:pass", "pass%20pass": test fixtures spell the word, not a secret
        or all(word in _NOT_A_VALUE for word in _WORDS.findall(unquote(value).lower()))
    )


def _strong_value(value: str) -> bool:
    """A value for a password-like name: anything but a lone lower-case word.

    `SECRET_KEY = "config"` or `token_type = "bearer"` name a thing; "hunter2" or
    "Tr0ub4dor&3" do not look like names. A few default passwords are words, and are kept.
    """
    if value.isalpha() and value.islower():
        return value in _DEFAULT_PASSWORDS
    return len(value) >= 5


def _basic_credentials(value: str, strict: bool = False) -> bool:
    """Whether `Basic <base64>` holds a password that is not a placeholder ("user:pass").

    Strict: the value must decode to user:password, for a "Basic" seen without its header.
    """
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except ValueError:
        return not strict
    # HTTP clients encode user:password as Latin-1 as often as UTF-8.
    try:
        decoded = raw.decode()
    except UnicodeDecodeError:
        decoded = raw.decode("latin-1")
    if strict and not decoded.isprintable():
        return False
    password = decoded.partition(":")[2]
    return bool(password) and not _is_reference(password)


def _name_before(text: str, start: int) -> str:
    """The identifier that ends where the matched secret word starts (64 characters at most)."""
    position = start
    while position > max(0, start - 64) and _NAME_CHAR.match(text, position - 1):
        position -= 1
    return text[position:start]


def _at_word_boundary(text: str, match: re.Match[str]) -> bool:
    start = match.start("word")
    word = match.group("word")
    if start == 0 or word.lower() in _GLUED_WORDS:
        return True
    before = text[start - 1]
    if not before.isalnum():
        return True
    return before.islower() and word[0].isupper()  # camelCase: apiKey, dbPass


def _end_is_free(text: str, end: int) -> bool:
    """An unquoted value must end its line (a comment may follow) or its string.

    After a bare word, code goes on (`password = pw if x else y`, `key=len)`); in a
    configuration file the value is all there is on the line.
    """
    rest = text[end : end + 64].split("\n", 1)[0]
    stripped = rest.lstrip(" \t")
    return (
        not stripped
        or stripped[0] in "\"'`;"
        or (stripped.startswith(("#", "//", "--", "\\", "&&", "|")) and rest != stripped)
    )


def _assignment_value(text: str, match: re.Match[str]) -> tuple[int, int, str] | None:
    """The span and kind of the credential in a `name = value` match, or None."""
    # Cheapest rejections first: a hostile line can hold a hundred thousand of these.
    value = match.group("quoted") or match.group("bare")
    if value.lower().rstrip(":") in _NOT_A_VALUE or not _at_word_boundary(text, match):
        return None
    name = _name_before(text, match.start("word")) + match.group("word")
    strong = bool(_STRONG_NAME.search(name))
    sep = match.group("sep")
    if match.group("quoted") is not None:
        value, group = match.group("quoted"), "quoted"
        if _is_reference(value) or _IDENTIFIER_VALUE.fullmatch(value):
            return None
        if "," in sep and _CODE_NAME.fullmatch(value):
            return None  # ("username", "password", "message"): a list of names
        ok = _strong_value(value) if strong else _looks_random(value)
    else:
        value, group = match.group("bare"), "bare"
        if "," in sep:  # define('DB_PASSWORD', 'x'): only a quoted value is one
            return None
        cli = bool(_CLI_OPTION.search(text, max(0, match.start() - 48), match.start("word")))
        # NAME=value with no spaces: a .env or shell file, or a command-line option, where a
        # bare word is a literal string, not a variable.
        glued = sep == "=" and text[match.start("sep") - 1] not in " \t"
        glued = glued and text[match.end("sep")] not in " \t"
        # An option (--password=x) or an environment variable set for a command
        # (POSTGRES_PASSWORD=x postgres:16) may be followed by more words.
        after = text[match.end() : match.end() + 1]
        command = cli or (glued and name.isupper() and after in (" ", "\t"))
        if not (command or _end_is_free(text, match.end())) or _is_reference(value):
            return None
        if value.lower() == name.lower() or value.endswith(("(", ".")):
            return None
        if _CODE_NAME.fullmatch(value) and re.search(f"(?i){_SECRET_WORD}", value):
            return None  # password=db_password, API_TOKEN=token_value: a variable
        # `password: hunter` in YAML is a literal; `password: str` or `password = pw` in
        # code is a type or a variable.
        code_like = sep != ":" or _CAMEL_TYPE.fullmatch(value) or "." in value
        if _CODE_NAME.fullmatch(value) and not (cli or glued) and code_like:
            return None
        ok = _strong_value(value) if strong else _looks_random(value)
    if not ok:
        return None
    kind = "aws-secret-access-key" if re.search(r"(?i)aws|secret_?access", name) else None
    return (*match.span(group), kind or "secret-assignment")


def find_secrets(text: str) -> list[SecretMatch]:
    """Every credential in `text`, in order, overlapping matches merged into one."""
    found = [(start, -1, end, "private-key") for start, end in _private_keys(text)]
    for priority, pattern in enumerate(_PATTERNS):
        for match in pattern.regex.finditer(text):
            start, end = match.span(pattern.group) if pattern.group else match.span()
            found.append((start - pattern.back, priority, end, pattern.kind))
    generic = len(_PATTERNS)
    for match in _URL_PASSWORD.finditer(text):
        if not _is_reference(match.group("value")):
            found.append((match.start("value"), generic, match.end("value"), "url-credentials"))
    for match in _URL_USER.finditer(text):
        if _looks_random(match.group("value")):
            found.append((*match.span("value")[:1], generic, match.end("value"), "url-credentials"))
    for match in _AUTHORIZATION.finditer(text):
        value, scheme = match.group("value"), (match.group("scheme") or "").lower()
        if _is_reference(value) or (not scheme and _CODE_NAME.fullmatch(value)):
            continue  # {"Authorization": auth_header}: a variable
        if scheme == "basic" and not _basic_credentials(value):
            continue
        found.append((match.start("value"), generic, match.end("value"), "authorization"))
    for match in _CLI_USER.finditer(text):
        group = next(g for g in ("value", "value2", "value3") if match.group(g) is not None)
        found.append((match.start(group), generic, match.end(group), "url-credentials"))
    for match in _CLI_OPTION_VALUE.finditer(text):
        if not _is_reference(match.group("value")):
            found.append((match.start("value"), generic, match.end("value"), "secret-assignment"))
    for match in _BASIC.finditer(text):
        if _basic_credentials(match.group("value"), strict=True):
            found.append((match.start("value"), generic, match.end("value"), "authorization"))
    for match in _AWS_SECRET.finditer(text):
        found.append((match.start(), generic, match.end(), "aws-secret-access-key"))
    for match in _XML_ELEMENT.finditer(text):
        if not _is_reference(match.group("value")):
            found.append((match.start("value"), generic, match.end("value"), "secret-assignment"))
    for match in _ASSIGNMENT.finditer(text):
        value = _assignment_value(text, match)
        if value:
            found.append((value[0], generic + 1, value[1], value[2]))
    return _merge(sorted(found))


# --- Private keys -------------------------------------------------------------------------
#
# A key is many lines and only its first and last say what it is. The whole block goes,
# from BEGIN to END; when the text holds only part of it (a diff hunk that starts or ends
# inside the key), the base64 lines next to the part that is there go too.

_KEY_BEGIN = re.compile(
    r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
    # OpenSSH's body starts with base64("openssh-key-v1"): a key even without its BEGIN line.
    r"|b3BlbnNzaC1rZXktdjE"
    r"|PuTTY-User-Key-File-\d: "
)
_KEY_END = re.compile(r"-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_KEY_MAX = 32_000  # characters between BEGIN and END: a 16384-bit RSA key fits
# What may follow BEGIN on its own line: a key written as one string with "\n" escapes.
_KEY_TAIL = re.compile(r"(?:\\[nr]|[A-Za-z0-9+/=: \t.,-]){0,8192}")
# A line of a key's body, as it appears in a PEM file, a YAML block scalar (indented), or a
# string concatenated in code ("MIIE...\n" +).
_KEY_LINE = re.compile(
    r"[ \t]{0,64}[\"'`+]{0,2}[ \t]{0,4}"
    r"(?:[A-Za-z0-9+/]{16,1024}={0,2}|=[A-Za-z0-9+/]{4}"
    r"|(?:Proc-Type|DEK-Info|Version|Comment|Hash|Private-Lines|Private-MAC|Encryption"
    r"|Public-Lines):[^\n]{0,256})"
    r"(?:\\[nr])?[\"'`]?[ \t]{0,4}[+,;)]{0,2}[ \t]{0,4}\\?"
)
# Hunks that start inside a key: PEM wraps at 64 columns, OpenSSH at 70.
_KEY_WRAPPED_LINE = re.compile(r"[ \t]{0,64}(?:[A-Za-z0-9+/]{64}|[A-Za-z0-9+/]{70})")


def _private_keys(text: str) -> list[tuple[int, int]]:
    begins = [m for m in _KEY_BEGIN.finditer(text)]
    ends = [m for m in _KEY_END.finditer(text)]
    end_starts = [m.start() for m in ends]
    begin_starts = [m.start() for m in begins]
    spans: list[tuple[int, int]] = []
    covered = 0
    for index, begin in enumerate(begins):
        if begin.start() < covered:
            continue
        next_begin = begin_starts[index + 1] if index + 1 < len(begins) else len(text)
        i = bisect.bisect_left(end_starts, begin.end())
        if i < len(ends) and end_starts[i] < next_begin and end_starts[i] - begin.end() < _KEY_MAX:
            end = ends[i].end()
        else:
            tail = _KEY_TAIL.match(text, begin.end())
            end = _body_after(text, tail.end() if tail else begin.end())
        spans.append((begin.start(), end))
        covered = end
    # An END whose BEGIN is not in this text: the body lines above it.
    orphans = []
    for end_line in ends:
        if not _inside(spans, end_line.start()):
            orphans.append((_body_before(text, end_line.start()), end_line.end()))
    # A text that starts with lines of a wrapped key and shows neither its BEGIN nor its END.
    first_lines = _body_after(text, 0, _KEY_WRAPPED_LINE, at_line_start=True)
    if text[:first_lines].count("\n") >= 1 and not _inside(spans, 0):
        orphans.append((0, first_lines))
    return sorted(spans + orphans)


def _inside(spans: list[tuple[int, int]], position: int) -> bool:
    """Whether `position` falls in one of `spans` (sorted, not overlapping)."""
    i = bisect.bisect_right(spans, (position, len(spans) + position + 1)) - 1
    return i >= 0 and spans[i][0] <= position < spans[i][1]


def _body_after(text: str, position: int, line=_KEY_LINE, at_line_start: bool = False) -> int:
    """Where the run of key lines that starts on the line after `position` ends."""
    end = position
    if at_line_start:
        newline = position - 1
    else:
        newline = text.find("\n", position)
        if newline < 0:
            return end
    blank_allowed = not at_line_start  # PGP armour: a blank line after BEGIN and headers
    while newline >= -1:
        start = newline + 1
        stop = text.find("\n", start)
        stop = len(text) if stop < 0 else stop
        if start == stop or not text[start:stop].strip():
            if not blank_allowed or stop == len(text):
                break
            blank_allowed = False
            newline = stop
            continue
        if not line.fullmatch(text, start, stop):
            break
        end = stop
        if stop == len(text):
            break
        newline = stop
    return end


def _body_before(text: str, position: int) -> int:
    """Where the run of key lines that ends on the line before `position` starts."""
    # The END line's own start, if near: a key in one string ("...\n-----END...") loses
    # its body too. Bounded, so many END markers on one long line stay linear.
    line_start = text.rfind("\n", max(0, position - 4096), position) + 1
    if line_start == 0 and position > 4096:
        return position
    start = line_start
    while start > 0:
        previous = text.rfind("\n", 0, start - 1) + 1
        if not _KEY_LINE.fullmatch(text, previous, start - 1):
            break
        start = previous
    return start


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
