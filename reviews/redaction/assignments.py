"""Credentials that only their context names: `password = ...`, `Authorization: ...`,
user info in a URL, `curl -u`, `--password=`, `<password>...</password>`, AWS secret keys.

The value decides: a reference (`os.environ[...]`, `${VAR}`, `None`, a type name) is code
the model should read; a literal that is strong or looks random is a secret.
"""

import base64
import re
from urllib.parse import unquote

from reviews.redaction.tokens import token

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
    token("-u", r"[ \t=]{1,4}[\"']?[^\s:\"'$]{1,64}:(?P<value>[^\s\"'@$]{3,256})", r"\w-")
    + "|"
    + token("--user", r"[ \t=]{1,4}[\"']?[^\s:\"'$]{1,64}:(?P<value3>[^\s\"'@$]{3,256})", r"\w-")
    + r"|sshpass[ \t]{1,4}-p[ \t]{1,4}[\"']?(?P<value2>[^\s\"'$]{3,256})"
)

# `--password hunter2`, `--api-token abc...`: an option and its value, separated by a space.
_CLI_OPTION_VALUE = re.compile(
    r"--(?<![\w-]--)[\w-]{0,30}(?:password|passwd|secret|token|api-key|apikey)[ \t]{1,4}"
    r"(?P<value>[^\s\"'$<-][^\s\"']{2,255})"
)
# `Basic <base64 of user:password>` anywhere: decoded before it counts.
_BASIC = re.compile(
    token("Basic", r"[ \t]{1,4}(?P<value>[A-Za-z0-9+/]{12,1024}={0,2})", "A-Za-z0-9_")
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


def find(text: str, generic: int) -> list[tuple[int, int, int, str]]:
    """(start, priority, end, kind) of every credential named by its context; `generic` is
    the priority of these, below every self-identifying token."""
    found: list[tuple[int, int, int, str]] = []
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
    return found
