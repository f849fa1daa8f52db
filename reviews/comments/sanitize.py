"""Make untrusted text (model output, pull request data) safe to show in a GitHub comment.

GitHub renders comment markdown with cmark-gfm, then links @mentions and issue references in the
resulting text. So untrusted text must not bring its own HTML, images or off-GitHub links (a
rendered link or image is a way to exfiltrate what the model saw), ping anyone, look like it
closes an issue, or break the layout we put it in (table cells, code fences).

Code spans and fenced code stay code: GitHub renders no HTML, mentions or links inside them. Every
other special character in untrusted text becomes an HTML entity, which renders as itself and can
never become markup, so the only markup left is what this module writes.

Model text is hostile and can be long, so every pattern here runs in linear time: no pattern
rescans the rest of the line from each of many starting points, and none backtracks over a
run in more than one way (possessive quantifiers, or a plain loop where a regex cannot say it).

Pure: no Django imports.
"""

import html
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Iterator

MARKER = "<!-- prism:review -->"
ZWJ = "\u200d"
LINK_REMOVED = "(link removed)"

# Our own marker inside quoted code would make a second "Prism comment" for anyone searching.
_MARKER_DEFUSED = MARKER.replace("prism:", "prism" + ZWJ + ":")
# Control characters, and bidirectional overrides, which make text read other than it is.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Private-use characters we use as placeholders for the links we keep.
_PLACEHOLDER_CHARS = re.compile("[\ue000\ue001]")
_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")

_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "[": "&#91;",
    "]": "&#93;",
    "|": "&#124;",
    "\\": "&#92;",
    "`": "&#96;",
    "$": "&#36;",  # GitHub renders $...$ as math
}
_ESCAPE = str.maketrans(_ENTITIES)
_TILDE_FENCE = re.compile(r"~{3,}")

# ![label](target), label and target on one line. A stretch that only begins like an image is
# matched too and left as it was (_drop_image): every "![" inside it would stop at the same "]"
# or line end and fail as well, so retrying each of them would only make the scan quadratic.
_IMAGE = re.compile(r"!\[[^\]\n]*+(?:\]\([^)\n]*+(\))?)?")
# [label](target "title"). The first branch is the original pattern with its backtracking made
# possessive where giving characters back could never lead to a match; the one case where it
# could (spaces before a title, with no target) is the second branch, so that a run of spaces
# after "](" is no longer split every possible way (cubic) before failing.
_TITLE = r"(?:\"[^\"\n]*+\"|'[^'\n]*+')"
_LINK = re.compile(
    r"\[([^\[\]\n]*+)\]\("
    rf"(?:\s*+<?([^\s<>()]*+)>?(?:\s++{_TITLE})?\s*+\)|\s++{_TITLE}\s*+\))"
)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*)>")
# A bare URL starts at "www." or at the first letter of a run of scheme characters that ends in
# "://", and runs to the next space, "<" or ">" (see _bare_urls). Matching the scheme only at the
# start of a run keeps a long run of letters from being rescanned from each of its letters.
_SCHEME_URL = re.compile(
    r"(?<![A-Za-z0-9+.\-])[0-9+.\-]*+([A-Za-z][A-Za-z0-9+.\-]*+://)", re.IGNORECASE
)
_WWW = re.compile(r"www\.", re.IGNORECASE)
_URL_END = re.compile(r"[\s<>]")
_URL_TAIL = ".,:;!?'\")]*_~"
# No '@' (user info hides the real host), no parentheses or brackets (they end our markup).
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#%&=+,;!*']+")
# Scheme and authority, plain: a host of letters, digits, dots and hyphens, and perhaps a port.
# Nothing a renderer or browser decodes or reads as a separator ("&#64;", "%40", "@", "\\") can
# hide in it, so the host seen here is the host GitHub links to.
_ORIGIN = re.compile(r"((?i:https?))://([A-Za-z0-9.\-]+)(?::([0-9]+))?(?=[/?#]|\Z)")
_DEFAULT_PORTS = {"http": "80", "https": "443"}

# GitHub's closing keywords. Defused whenever the next word could be a reference (or the text
# ends, since the reference may follow in the next piece we write); ASCII boundaries because
# GitHub's matcher treats non-ASCII letters as word breaks.
# The test after the keyword was a lookahead, (?=:?\s*(?:$|\S*?(?:#|gh-\d|://|\ue000))), which
# rescans the rest of a long word for every keyword in it: _defuse_closing does it with
# sorted positions instead.
_CLOSING = re.compile(
    r"(?<![A-Za-z0-9])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?![A-Za-z0-9])", re.IGNORECASE
)
_REFERENCE = re.compile(r"#|gh-\d|://|\ue000", re.IGNORECASE)
_SPACE = re.compile(r"\s")
_SPACES = re.compile(r"\s*")


def _after_spaces(text: str, at: int) -> int:
    spaces = _SPACES.match(text, at)  # matches, if only the empty string
    return spaces.end() if spaces else at


# An @ before a name pings its owner; before a domain, an email address is autolinked
# (mailto:, off GitHub). A zero-width joiner after it defuses both; renderers differ on
# which characters may start the domain, so "." "-" "_" count too.
_MENTION = re.compile(r"@(?=[A-Za-z0-9._-])")

_BACKTICKS = re.compile(r"`+")
_FENCE_OPEN = re.compile(r"( {0,3})(`{3,}(?=[^`]*$)|~{3,})(.*)")
_INFO = re.compile(r"[A-Za-z0-9_+#.\-]{1,30}")


def sanitize_inline(text: str, *, hosts: Collection[str] = (), limit: int | None = None) -> str:
    """`text` as one line of markdown, safe in a table cell; at most `limit` characters.

    `hosts` are extra link hosts to keep besides GitHub's (a GitHub Enterprise host).
    """
    return _bounded(
        lambda raw: _line(" ".join(_clean(raw).split()), hosts, table=True).strip(), text, limit
    )


def sanitize_block(text: str, *, hosts: Collection[str] = (), limit: int | None = None) -> str:
    """`text` as multi-line markdown prose, safe at the top level of a comment."""
    return _bounded(lambda raw: _block(_clean(raw), hosts), text, limit)


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending in an ellipsis when cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1].rstrip() + "…"


def code_span(text: str, *, table: bool = False) -> str:
    """`text` as inline code, whatever backticks it holds; "" for empty text."""
    content = " ".join(_CONTROL.sub("", text).splitlines())
    if not content:
        return ""
    runs = {len(run) for run in _BACKTICKS.findall(content)}
    delimiter = "`" * next(n for n in range(1, len(runs) + 2) if n not in runs)
    if content[0] in "` " or content[-1] in "` ":
        content = f" {content} "
    return delimiter + _code_content(content, table) + delimiter


def code_fence(code: str, *, info: str = "") -> str:
    """`code` in a fenced block whose fence is longer than any backtick run inside it."""
    code = _CONTROL.sub("", code.replace("\r\n", "\n").replace("\r", "\n"))
    longest = max((len(run) for run in _BACKTICKS.findall(code)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{code.replace(MARKER, _MARKER_DEFUSED)}\n{fence}"


def is_allowed_url(url: str, hosts: Collection[str] = ()) -> bool:
    """True for an http(s) URL on GitHub (or one of `hosts`) that is safe to put in markup.

    The host is judged as GitHub will link it: cmark-gfm decodes entities in link targets and
    autolinks ("github.com:&#64;evil.example" is user info before the host evil.example) and
    browsers decode percent-escapes in a host. So the scheme and authority must be plain both as
    written and once decoded: no user info, no escapes, no backslash, no port but the default.
    """
    if not _URL_CHARS.fullmatch(url):
        return False
    origin = _origin(url)
    if origin is None or _origin(html.unescape(url)) != origin:
        return False
    scheme, host, port = origin
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return False
    return (
        host == "github.com"
        or host.endswith((".github.com", ".githubusercontent.com"))
        or host in hosts
    )


def _origin(url: str) -> tuple[str, str, str | None] | None:
    """(scheme, host, port) of a URL whose scheme and authority are plain, else None."""
    origin = _ORIGIN.match(url)
    if origin is None:
        return None
    return origin[1].lower(), origin[2].lower(), origin[3]


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _PLACEHOLDER_CHARS.sub("", _CONTROL.sub("", text))


def _bounded(render: Callable[[str], str], text: str, limit: int | None) -> str:
    """render(text), cutting the input until the output fits: escaping makes text longer."""
    if limit is None:
        return render(text)
    raw = shorten(text, limit)
    out = render(raw)
    while len(out) > limit:
        raw = shorten(raw, len(raw) * limit // len(out) - 1)
        out = render(raw)
    return out


def _block(text: str, hosts: Collection[str]) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.fullmatch(lines[i])
        if opening is None:
            out.append(_line(lines[i], hosts, table=False))
            i += 1
            continue
        end = _fence_end(lines, i + 1, opening[2])
        code = "\n".join(_unindent(line, len(opening[1])) for line in lines[i + 1 : end])
        # Written by us at the top level with blank lines around it, so no list or quote the
        # model opened can end it early and let its content render as markdown.
        out += ["", code_fence(code, info=_info(opening[3])), ""]
        i = end + 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def _fence_end(lines: list[str], start: int, fence: str) -> int:
    closing = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}} *")
    return next((j for j in range(start, len(lines)) if closing.fullmatch(lines[j])), len(lines))


def _unindent(line: str, indent: int) -> str:
    return line[min(indent, len(line) - len(line.lstrip(" "))) :]


def _info(info: str) -> str:
    language = _INFO.match(info.strip())
    # A model's own ```suggestion block must not become a one-click change.
    if language is None or language[0].lower() == "suggestion":
        return ""
    return language[0]


def _line(line: str, hosts: Collection[str], *, table: bool) -> str:
    # Flattened into a cell, a fenced block's ``` would pair up with a later one and turn the
    # prose between them into code: in cells only short runs delimit code.
    widest = 2 if table else None
    if "`" not in line:  # the common case, and a text of many short lines pays per line
        return _prose(line, hosts) if line else ""
    return "".join(
        _code_span_as_is(piece, table) if is_code else _prose(piece, hosts)
        for is_code, piece in _split_code_spans(line, widest)
    )


def _split_code_spans(line: str, widest: int | None = None) -> list[tuple[bool, str]]:
    """The line cut into prose and code spans, matching backtick runs the way CommonMark does.

    Prose keeps no backtick (they become entities), so in our output every backtick run is either
    a delimiter found here or inside a span: GitHub can only pair them the same way. Runs wider
    than `widest` delimit nothing.
    """
    runs = [
        match.span()
        for match in _BACKTICKS.finditer(line)
        if widest is None or len(match[0]) <= widest
    ]
    by_length: dict[int, list[int]] = {}
    for index, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(index)
    pieces: list[tuple[bool, str]] = []
    position = index = 0
    while index < len(runs):
        start, end = runs[index]
        same = by_length[end - start]
        later = bisect_right(same, index)
        if later == len(same):
            index += 1
            continue
        closer = same[later]
        pieces += [(False, line[position:start]), (True, line[start : runs[closer][1]])]
        position, index = runs[closer][1], closer + 1
    pieces.append((False, line[position:]))
    return pieces


def _code_span_as_is(span: str, table: bool) -> str:
    width = len(span) - len(span.lstrip("`"))
    return span[:width] + _code_content(span[width:-width], table) + span[-width:]


def _code_content(content: str, table: bool) -> str:
    # GFM splits table rows on pipes before it finds code spans; \| is its escape for that.
    if table:
        content = content.replace("|", "\\|")
    return content.replace(MARKER, _MARKER_DEFUSED)


def _prose(text: str, hosts: Collection[str]) -> str:
    """Prose with images dropped, links kept only to GitHub, and nothing left that GitHub links.

    Links that stay are set aside as placeholders while the rest is escaped; removals come first
    so that joined-up text ("fi![](x)xes #1") is defused too.
    """
    kept: list[str] = []

    def keep(markup: str) -> str:
        kept.append(markup)
        return f"\ue000{len(kept) - 1}\ue001"

    # The `in` tests only skip a pattern that cannot match: a line cut into many short pieces
    # by code spans calls this once per piece.
    if "![" in text:
        text = _IMAGE.sub(_drop_image, text)
    if "](" in text:
        # The second branch of _LINK (a title, no target) leaves group 2 unset: an empty target.
        text = _LINK.sub(lambda m: _markdown_link(m[1], m[2] or "", hosts, keep), text)
    if "<" in text:
        text = _AUTOLINK.sub(lambda m: _url(m[1], hosts, keep), text)
    text = _replace_bare_urls(text, lambda url: _bare_url(url, hosts, keep))
    text = _defuse_closing(text)
    if "@" in text:
        text = _MENTION.sub("@" + ZWJ, text)
    text = text.translate(_ESCAPE)
    if "~~~" in text:
        # Three tildes open a code fence inside a list item or a quote ("1. ~~~{"), where the
        # top-level fences above never see it; "~~" (strikethrough) is left as it is.
        text = _TILDE_FENCE.sub(lambda m: "&#126;" * len(m[0]), text)
    if not kept:
        return text
    # A "!" that ends up just before a kept link would make it an image: dropping "![]()" from
    # "!![]()[x](https://github.com/...)" joins the two (found by hypothesis).
    text = text.replace("!\ue000", "\\!\ue000")
    return _PLACEHOLDER.sub(lambda m: kept[int(m[1])], text)


def _drop_image(match: re.Match[str]) -> str:
    """Nothing for a whole image; as it was for a stretch that only began like one."""
    return "" if match[1] else match[0]


def _bare_urls(text: str) -> Iterator[tuple[int, int]]:
    r"""(start, end) of each bare URL, left to right, as the regex
    (?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)[^\s<>]* (ignoring case) would find them.

    That regex tries every letter of a long run of letters, rescanning the run from each: here
    the next scheme and the next "www." are each searched for once and the earlier one wins.
    Both kinds of URL run to the next space, "<" or ">", so only where one starts matters.
    """
    position = 0
    scheme = _SCHEME_URL.search(text)
    www = _WWW.search(text)
    while scheme is not None or www is not None:
        # Searches resume at the end of the last URL, a space, "<", ">" or the end of the text,
        # which cannot be inside a run of scheme characters: a match found earlier is still next.
        if scheme is not None and scheme.start(1) < position:
            scheme = _SCHEME_URL.search(text, position)
        if www is not None and www.start() < position:
            www = _WWW.search(text, position)
        starts = [match.start(1) for match in (scheme,) if match is not None]
        starts += [match.start() for match in (www,) if match is not None]
        if not starts:
            return
        start = min(starts)
        end = _URL_END.search(text, start)
        position = end.start() if end is not None else len(text)
        yield start, position


def _replace_bare_urls(text: str, replace: Callable[[str], str]) -> str:
    pieces: list[str] = []
    position = 0
    for start, end in _bare_urls(text):
        pieces += [text[position:start], replace(text[start:end])]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _defuse_closing(text: str) -> str:
    r"""A ZWJ after each closing keyword that a reference follows (or may, at the end).

    As the lookahead :?\s*(?:$|\S*?(?:#|gh-\d|://|\ue000)) after the keyword: an optional
    colon and spaces, then the end of the text or a word in which a reference starts.
    """
    ends = [keyword.end() for keyword in _CLOSING.finditer(text)]
    if not ends:
        return text
    size = len(text)
    # Where references start and words end, in order, each list closed by a sentinel past the
    # text: the first of either at or after any position is one bisection away.
    references = [match.start() for match in _REFERENCE.finditer(text)]
    references.append(size + 2)
    word_ends = [match.start() for match in _SPACE.finditer(text)]
    word_ends.append(size + 1)

    def reference_in_word_at(start: int) -> bool:
        return (
            start == size
            or references[bisect_left(references, start)] < word_ends[bisect_left(word_ends, start)]
        )

    pieces: list[str] = []
    position = 0
    for end in ends:
        # The colon is optional in the lookahead: with it, the word after it and its spaces;
        # without it, the word from the keyword's end on (which starts with the colon, if any).
        if reference_in_word_at(_after_spaces(text, end)) or (
            text.startswith(":", end) and reference_in_word_at(_after_spaces(text, end + 1))
        ):
            pieces += [text[position:end], ZWJ]
            position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _markdown_link(label: str, url: str, hosts: Collection[str], keep: Callable[[str], str]) -> str:
    if not is_allowed_url(url, hosts):
        return label  # still prose: URLs inside it are handled next
    if not label.strip():
        return keep(f"<{url}>")
    return keep(f"[{_prose(label, ())}]({url})")


def _url(url: str, hosts: Collection[str], keep: Callable[[str], str]) -> str:
    return keep(f"<{url}>") if is_allowed_url(url, hosts) else LINK_REMOVED


def _bare_url(match: str, hosts: Collection[str], keep: Callable[[str], str]) -> str:
    # Trailing punctuation is prose, not URL. (rstrip, not a regex: [...]+$ tried from each
    # character of a long run of dots rescans the run from each.)
    url = match.rstrip(_URL_TAIL)
    rest = match[len(url) :]
    if url.lower().startswith("www."):
        url = "https://" + url
    return _url(url, hosts, keep) + rest
