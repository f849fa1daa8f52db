"""A pull request's unified diff as typed objects, and which of its files are worth reviewing.

Pure: no Django. `parse` reads git's diff (what GitHub's `application/vnd.github.diff`
media type returns); `from_github_files` reads the "list pull request files" entries we fall
back to when that endpoint answers 406 (docs/github-facts.md R2, R3). `select_files` then sets
aside what an LLM should not spend tokens on, each file with a reason, so nothing disappears
silently.
Packing the rest into LLM calls lives in `reviews/chunking.py`.

We parse ourselves instead of wrapping `unidiff` (1.0.1): it reads a deleted line that starts
with "-- " as a new file header (fixture 23, CHANGES.rst), and it exposes neither modes nor
similarity. Counting lines against the @@ header, as git does, avoids both problems.
"""

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from typing import Any

ADDED, REMOVED, MODIFIED, RENAMED = "added", "removed", "modified", "renamed"
RIGHT, LEFT = "RIGHT", "LEFT"
SUBMODULE_MODE = "160000"

# https://docs.github.com/en/rest/pulls/pulls#list-pull-requests-files: GitHub's own words,
# folded into ours. A copy is a new file on the reviewed side; "changed" is a mode change.
GITHUB_STATUSES = {
    "added": ADDED,
    "removed": REMOVED,
    "modified": MODIFIED,
    "renamed": RENAMED,
    "copied": ADDED,
    "changed": MODIFIED,
    "unchanged": MODIFIED,
}


class DiffError(ValueError):
    """The text is not a unified diff we can read; the message says where."""


@dataclass(frozen=True, slots=True)
class Line:
    kind: str  # "+", "-" or " "
    old_lineno: int | None
    new_lineno: int | None
    text: str  # without the marker or the newline


@dataclass(frozen=True, slots=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str  # what git prints after the second @@ (usually the enclosing function)
    lines: tuple[Line, ...]

    @property
    def changed_lines(self) -> int:
        return sum(1 for line in self.lines if line.kind != " ")


@dataclass(frozen=True)
class FileDiff:
    old_path: str | None  # None when the file is added
    new_path: str | None  # None when the file is removed
    status: str  # added | removed | modified | renamed (GitHub's words)
    binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    similarity: int | None = None
    hunks: tuple[Hunk, ...] = ()
    # Changed lines GitHub counted but sent no patch for (too large to show); see from_github_files.
    unseen_lines: int = 0

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def patch_missing(self) -> bool:
        return self.unseen_lines > 0

    @cached_property
    def added_lines(self) -> list[int]:
        return [
            ln.new_lineno
            for h in self.hunks
            for ln in h.lines
            if ln.kind == "+" and ln.new_lineno is not None
        ]

    @cached_property
    def deleted_lines(self) -> list[int]:
        return [
            ln.old_lineno
            for h in self.hunks
            for ln in h.lines
            if ln.kind == "-" and ln.old_lineno is not None
        ]

    @property
    def changed_lines(self) -> int:
        return len(self.added_lines) + len(self.deleted_lines)

    @cached_property
    def right_ranges(self) -> list[tuple[int, int]]:
        return [(h.new_start, h.new_start + h.new_count - 1) for h in self.hunks if h.new_count]

    @cached_property
    def left_ranges(self) -> list[tuple[int, int]]:
        return [(h.old_start, h.old_start + h.old_count - 1) for h in self.hunks if h.old_count]

    @property
    def is_submodule(self) -> bool:
        return SUBMODULE_MODE in (self.old_mode, self.new_mode)

    def commentable(self, line: int, side: str = RIGHT) -> bool:
        """Whether GitHub accepts a review comment there: inside a hunk.

        See docs/github-facts.md C3, C4.
        """
        if side not in (RIGHT, LEFT):
            raise ValueError(f"side must be {RIGHT} or {LEFT}, not {side!r}")
        ranges = self.right_ranges if side == RIGHT else self.left_ranges
        # Hunks are sorted and disjoint on each side, so only the last one starting at or
        # before `line` can hold it.
        index = bisect_right(ranges, line, key=lambda span: span[0]) - 1
        return index >= 0 and ranges[index][1] >= line


# --- Parsing git's unified diff ---------------------------------------------------------

_HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)")
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def parse(text: str) -> list[FileDiff]:
    """Every file of a git unified diff, in the diff's order."""
    # Not splitlines(): it also splits on \x0c, \x1c, \u2028 … which can sit inside a line.
    lines = text.split("\n")
    files: list[FileDiff] = []
    i = 0
    while i < len(lines):
        if lines[i].startswith(("diff --git ", "--- ")):
            file, i = _parse_file(lines, i)
            files.append(file)
        else:
            i += 1  # anything git prints around the diff (mail headers, a final newline)
    return files


def from_github_files(entries: list[dict[str, Any]]) -> list[FileDiff]:
    """Files from GET /repos/{o}/{r}/pulls/{n}/files, the fallback when the diff is too large.

    https://docs.github.com/en/rest/pulls/pulls#list-pull-requests-files. `patch` is
    optional (docs/github-facts.md R3): GitHub leaves it out for binary files and for diffs too
    large to show. Both look alike, so a file without a patch but with counted changes keeps
    those counts in `unseen_lines` and select_files reports it as "no_patch".
    """
    return [_file_from_entry(entry) for entry in entries]


def _file_from_entry(entry: dict[str, Any]) -> FileDiff:
    status = GITHUB_STATUSES.get(entry["status"], MODIFIED)
    path = entry["filename"]
    previous = entry.get("previous_filename")  # set for renames and copies
    patch = entry.get("patch")
    hunks = _parse_hunks(patch.split("\n"), 0)[0] if patch else ()
    counted = entry.get("additions", 0) + entry.get("deletions", 0)
    return FileDiff(
        old_path=None if status == ADDED and not previous else previous or path,
        new_path=None if status == REMOVED else path,
        status=status,
        hunks=hunks,
        unseen_lines=0 if patch else counted,
    )


@dataclass
class _Header:
    """What a file's header lines tell us, filled in as they are read; later lines win."""

    old_path: str | None = None
    new_path: str | None = None
    status: str = MODIFIED
    binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    similarity: int | None = None


def _parse_file(lines: list[str], i: int) -> tuple[FileDiff, int]:
    header, i = _parse_header(lines, i)
    hunks, i = _parse_hunks(lines, i)
    file = FileDiff(
        old_path=header.old_path,
        new_path=header.new_path,
        status=header.status,
        binary=header.binary,
        old_mode=header.old_mode,
        new_mode=header.new_mode,
        similarity=header.similarity,
        hunks=hunks,
    )
    return file, i


def _parse_header(lines: list[str], i: int) -> tuple[_Header, int]:
    header = _Header()
    if lines[i].startswith("diff --git "):
        header.old_path = header.new_path = _git_line_path(lines[i][len("diff --git ") :])
        i += 1
    while i < len(lines) and not lines[i].startswith(("diff --git ", "@@ ")):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            header.old_path = _header_path(line[4:])
            header.new_path = _header_path(lines[i + 1][4:])
            if header.old_path is None:
                header.status = ADDED
            elif header.new_path is None:
                header.status = REMOVED
            return header, i + 2
        _read_extended_header(header, line)
        i += 1
    return header, i


def _read_extended_header(header: _Header, line: str) -> None:
    # https://git-scm.com/docs/diff-format#generate_patch_text_with_p
    key, _, value = line.partition(" ")
    if line.startswith("new file mode "):
        header.status, header.new_mode, header.old_path = ADDED, line.rsplit(" ", 1)[1], None
    elif line.startswith("deleted file mode "):
        header.status, header.old_mode, header.new_path = REMOVED, line.rsplit(" ", 1)[1], None
    elif line.startswith("old mode "):
        header.old_mode = line.rsplit(" ", 1)[1]
    elif line.startswith("new mode "):
        header.new_mode = line.rsplit(" ", 1)[1]
    elif key == "index" and value.count(" ") == 1:  # "index abc..def 100644": mode unchanged
        header.old_mode = header.new_mode = value.split(" ")[1]
    elif line.startswith("similarity index "):
        header.similarity = int(line.rsplit(" ", 1)[1].rstrip("%"))
    elif line.startswith(("rename from ", "copy from ")):
        # A copy is a new file whose left side is the copied one, so it keeps that old path.
        header.old_path = _unquote(line.split(" ", 2)[2])
        header.status = RENAMED if key == "rename" else ADDED
    elif line.startswith(("rename to ", "copy to ")):
        header.new_path = _unquote(line.split(" ", 2)[2])
    elif line.startswith(("Binary files ", "GIT binary patch")):
        header.binary = True


def _header_path(raw: str) -> str | None:
    # git ends the name with a tab when it holds a space; other tools put a timestamp there.
    path = _unquote(raw.split("\t", 1)[0])
    return None if path == "/dev/null" else _strip_prefix(path)


def _git_line_path(rest: str) -> str:
    """The name in "diff --git a/X b/X", for files no later header line names.

    The line is ambiguous when names hold spaces, but the only files without ---/+++ or
    rename lines (binary, mode-only, empty) keep their name, so both halves are equal.
    """
    return _strip_prefix(_unquote(rest[: (len(rest) - 1) // 2]))


def _strip_prefix(path: str) -> str:
    return path[2:] if path.startswith(("a/", "b/")) else path


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual names ("a/caf\\303\\251.txt")."""
    if not (len(path) >= 2 and path[0] == path[-1] == '"'):
        return path
    body, out, i = path[1:-1], bytearray(), 0
    while i < len(body):
        if body[i] != "\\":
            out += body[i].encode()
            i += 1
        elif body[i + 1] in "01234567":
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(_C_ESCAPES[body[i + 1]])
            i += 2
    return out.decode("utf-8", errors="replace")


def _parse_hunks(lines: list[str], i: int) -> tuple[tuple[Hunk, ...], int]:
    hunks: list[Hunk] = []
    while i < len(lines) and lines[i].startswith("@@ "):
        hunk, i = _parse_hunk(lines, i)
        hunks.append(hunk)
    return tuple(hunks), i


def _parse_hunk(lines: list[str], i: int) -> tuple[Hunk, int]:
    match = _HUNK_HEADER.match(lines[i])
    if not match:
        raise DiffError(f"bad hunk header at line {i + 1}: {lines[i][:80]!r}")
    old_start, old_count, new_start, new_count = (
        int(n) if n is not None else 1 for n in match.group(1, 2, 3, 4)
    )
    old_no, new_no = old_start, new_start
    body: list[Line] = []
    # The header's counts, not the markers, say where the hunk ends: a deleted line may
    # itself start with "-- " or "@@ ".
    i += 1
    while old_no < old_start + old_count or new_no < new_start + new_count:
        if i >= len(lines):
            raise DiffError(f"hunk {lines[i - 1][:40]!r} ends early at line {i}")
        line = lines[i]
        kind = line[:1] or " "  # some tools strip the space of an empty context line
        if kind == "+":
            body.append(Line("+", None, new_no, line[1:]))
            new_no += 1
        elif kind == "-":
            body.append(Line("-", old_no, None, line[1:]))
            old_no += 1
        elif kind == " ":
            body.append(Line(" ", old_no, new_no, line[1:]))
            old_no, new_no = old_no + 1, new_no + 1
        elif kind != "\\":  # "\ No newline at end of file" is about the line above it
            raise DiffError(f"unexpected line {i + 1} in a hunk: {line[:80]!r}")
        i += 1
    while i < len(lines) and lines[i].startswith("\\"):
        i += 1
    hunk = Hunk(old_start, old_count, new_start, new_count, match.group(5), tuple(body))
    return hunk, i
