"""What the LLM sees of a diff, and how the reviewable files are packed into calls.

Pure: no Django. A chunk is one LLM call: whole files where they fit, a large file split
between its hunks, never inside one. When the call budget runs out, what is left comes back
as Skipped("over_call_budget") so the comment can say what was not reviewed.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from reviews.diffs.parser import RENAMED, FileDiff, Hunk
from reviews.results import Skipped

BYTES_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    """How many tokens `text` costs, give or take, without downloading a tokenizer.

    BPE tokenizers (OpenAI's cl100k/o200k, Llama, Qwen, Mistral) average about 4 bytes of
    UTF-8 per token on English and code, and about 3 on the densest common text: CJK (3 bytes
    a character, about a token each), digits and punctuation runs. 3.5 overestimates a
    typical diff by about an eighth, so a chunk planned under the budget stays under it on
    the model's side, without wasting the calls a large pull request needs (a third more
    chunks at 3 bytes a token means a third more round trips). LLM_MAX_PROMPT_TOKENS is far
    below any current model's context, so dense text that costs more still fits.
    """
    return math.ceil(_utf8_len(text) / BYTES_PER_TOKEN)


def render(file: FileDiff, hunks: Sequence[Hunk] | None = None) -> str:
    """The text the model reads for a file, or for some of its hunks.

    Every line that exists in the new file carries its number there, so a finding can cite
    the exact line GitHub accepts a comment on; a deleted line has no such number:

        FILE src/flask/helpers.py (modified)
        @@ -547,7 +547,8 @@ def send_from_directory(
        547   context
              - deleted
        548 + added
    """
    shown = file.hunks if hunks is None else tuple(hunks)
    width = _number_width(file)
    header = _render_header(file, partial=len(shown) < len(file.hunks))
    return header + "".join(_render_hunk(hunk, width) for hunk in shown)


def _render_header(file: FileDiff, *, partial: bool) -> str:
    what = f"renamed from {file.old_path}" if file.status == RENAMED else file.status
    if partial:
        what += "; excerpt, other hunks are reviewed separately"
    return f"FILE {file.path} ({what})\n"


def _render_hunk(hunk: Hunk, width: int) -> str:
    counts = f"-{hunk.old_start},{hunk.old_count} +{hunk.new_start},{hunk.new_count}"
    out = [f"@@ {counts} @@ {hunk.section}".rstrip() + "\n"]
    blank = " " * width
    for line in hunk.lines:
        number = blank if line.new_lineno is None else f"{line.new_lineno:>{width}}"
        out.append(f"{number} {line.kind} {line.text}\n")
    return "".join(out)


def _number_width(file: FileDiff) -> int:
    # One width for the whole file, so a hunk renders the same whichever chunk it lands in.
    last = max((h.new_start + h.new_count for h in file.hunks), default=1)
    return len(str(last))


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class Chunk:
    parts: tuple[tuple[FileDiff, tuple[Hunk, ...]], ...]  # each file with its hunks in this chunk

    @cached_property
    def text(self) -> str:
        return "\n".join(render(file, hunks) for file, hunks in self.parts)

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text)

    @property
    def paths(self) -> list[str]:
        return [file.path for file, _ in self.parts]

    @property
    def changed_lines(self) -> int:
        return sum(hunk.changed_lines for _, hunks in self.parts for hunk in hunks)


def plan_chunks(
    files: list[FileDiff], *, max_tokens: int, max_calls: int
) -> tuple[list[Chunk], list[Skipped]]:
    """Pack the files into at most `max_calls` chunks of at most `max_tokens` each.

    A file stays whole when it fits in a chunk; a larger one is split between its hunks.
    A hunk is never split: it is the span GitHub anchors comments to, and half a function
    misleads the model. So a single hunk over `max_tokens` gets a chunk of its own, over the
    budget; `Chunk.tokens` tells the caller. When the calls run out, the parts with the most
    changed lines per token are kept, so coverage stays high, and the rest come back as
    Skipped("over_call_budget") with their changed lines.
    """
    if max_tokens < 1 or max_calls < 0:
        raise ValueError(f"need max_tokens >= 1 and max_calls >= 0, not {max_tokens}, {max_calls}")
    capacity = int(max_tokens * BYTES_PER_TOKEN)
    parts = [part for file in files if file.hunks for part in _split(file, capacity)]
    bins, left_out = _pack(parts, capacity, max_calls)
    chunks = sorted((_chunk(b) for b in bins), key=_reading_order)
    # select_files reports files without hunks; callers that skip it still see them here.
    hunkless = [
        Skipped(f.path, "no_patch" if f.patch_missing else "no_changes", f.unseen_lines)
        for f in files
        if not f.hunks
    ]
    return chunks, hunkless + _over_budget(left_out)


@dataclass
class _Part:
    """Some hunks of one file, as they will be packed."""

    file: FileDiff
    hunks: list[Hunk]
    size: int  # rendered bytes, plus the newline that separates it from the next part
    lines: int  # changed lines


@dataclass
class _Bin:
    parts: list[_Part] = field(default_factory=list)
    size: int = 0
    directories: set[str] = field(default_factory=set)


def _split(file: FileDiff, capacity: int) -> list[_Part]:
    width = _number_width(file)
    sizes = [_utf8_len(_render_hunk(hunk, width)) for hunk in file.hunks]
    whole = _utf8_len(_render_header(file, partial=False)) + sum(sizes) + 1
    if whole <= capacity:
        return [_Part(file, list(file.hunks), whole, file.changed_lines)]
    header = _utf8_len(_render_header(file, partial=True)) + 1
    parts: list[_Part] = []
    for hunk, size in zip(file.hunks, sizes, strict=True):
        if not parts or parts[-1].size + size > capacity:
            parts.append(_Part(file, [], header, 0))
        parts[-1].hunks.append(hunk)
        parts[-1].size += size
        parts[-1].lines += hunk.changed_lines
    return parts


def _pack(parts: list[_Part], capacity: int, max_calls: int) -> tuple[list[_Bin], list[_Part]]:
    """First-fit decreasing over the densest parts the budget can hold, then fill the gaps."""
    by_density = sorted(parts, key=lambda p: (-p.lines / p.size, p.file.path))
    chosen, spare, room = [], [], capacity * max_calls
    for part in by_density:
        cost = min(part.size, capacity)  # an oversized part fills a chunk of its own
        if cost <= room:
            chosen.append(part)
            room -= cost
        else:
            spare.append(part)
    bins: list[_Bin] = []
    by_size = sorted(chosen, key=lambda p: (-p.size, p.file.path))
    rejected = [p for p in by_size if not _place(p, bins, capacity, max_calls)]
    retry = sorted(rejected + spare, key=lambda p: (-p.lines / p.size, p.file.path))
    left_out = [p for p in retry if not _place(p, bins, capacity, max_calls)]
    return bins, left_out


def _place(part: _Part, bins: list[_Bin], capacity: int, max_calls: int) -> bool:
    directory = part.file.path.rpartition("/")[0]
    fitting = [b for b in bins if b.size + part.size <= capacity]
    if fitting:
        # Files of one directory often change together; keep them in one call when it is free.
        target = next((b for b in fitting if directory in b.directories), fitting[0])
    elif len(bins) < max_calls:
        target = _Bin()
        bins.append(target)
    else:
        return False
    target.parts.append(part)
    target.size += part.size
    target.directories.add(directory)
    return True


def _chunk(packed: _Bin) -> Chunk:
    # Parts of one file that landed together become one part again, hunks in file order.
    hunks_by_file: dict[str, tuple[FileDiff, list[Hunk]]] = {}
    for part in sorted(packed.parts, key=lambda p: p.file.path):
        hunks_by_file.setdefault(part.file.path, (part.file, []))[1].extend(part.hunks)
    return Chunk(
        tuple(
            (file, tuple(sorted(hunks, key=lambda h: (h.old_start, h.new_start))))
            for file, hunks in hunks_by_file.values()
        )
    )


def _reading_order(chunk: Chunk) -> tuple[str, int, int]:
    # By first file, then by first hunk, so the parts of a split file come in file order.
    file, hunks = chunk.parts[0]
    return file.path, hunks[0].old_start, hunks[0].new_start


def _over_budget(parts: list[_Part]) -> list[Skipped]:
    lines_by_path: dict[str, int] = {}
    for part in sorted(parts, key=lambda p: p.file.path):
        lines_by_path[part.file.path] = lines_by_path.get(part.file.path, 0) + part.lines
    return [Skipped(path, "over_call_budget", lines) for path, lines in lines_by_path.items()]
