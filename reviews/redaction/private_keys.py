"""Private keys (PEM, OpenSSH, PGP): many lines, and only the first and last say what
they are."""

import bisect
import re

# # A key is many lines and only its first and last say what it is. The whole block goes,
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


def find(text: str) -> list[tuple[int, int]]:
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
