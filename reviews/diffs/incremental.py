"""Reviewing a push incrementally: decide whether the new commits alone can be reviewed, and
cut the pull request's diff down to what they touched. Pure: no Django, no GitHub calls.

`plan_push` reads GitHub's comparison of the last reviewed head with the new one and says
"incremental" only when that is safe; anything it cannot vouch for is a full review, with
the reason worded for the comment. `restrict_to_changes` keeps the hunks of the PR's diff
(against its base) that the new commits touched, whole, so the model still sees each change
with its context and every line keeps the number GitHub anchors comments to.
"""

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from reviews.diffs.parser import REMOVED, DiffError, FileDiff, Hunk, from_github_files
from reviews.github.resources import ComparedFile, Comparison

Mode = Literal["incremental", "full"]
INCREMENTAL: Mode = "incremental"
FULL: Mode = "full"

# The reasons a push gets a full review, as the comment's footer says them.
NO_EARLIER_REVIEW = "no earlier completed review"
EARLIER_REVIEW_INCOMPLETE = "the last review left parts of the pull request unread"
BASE_UNKNOWN = "the last review's base commit is unknown"
BASE_MOVED = "the base branch moved"
NO_COMPARISON = "GitHub could not compare the last reviewed head with this one"
REWRITTEN = "history was rewritten (force-push or rebase)"
TOO_LARGE = "the comparison is too large"
PATCH_MISSING = "the comparison is too large (GitHub sent no diff for some files)"
UNREADABLE = "GitHub's diff of the new commits could not be read"
NOTHING_NEW = "GitHub found no new commits since the last review"

DEFAULT_CONTEXT = 3  # lines around a changed line that pull its hunk in, as git's -U3


@dataclass(frozen=True)
class PushPlan:
    """How to review a push, and what it changed since the last reviewed head."""

    mode: Mode
    reason: str
    # New-side line numbers the new commits added or modified, per path (a deletion marks
    # the lines around it); every file they touched has an entry, maybe empty. Empty for a
    # full review.
    changed_lines: dict[str, set[int]] = field(default_factory=dict)
    commits: int = 0
    last_reviewed_head: str = ""
    head: str = ""

    @property
    def incremental(self) -> bool:
        return self.mode == INCREMENTAL

    @property
    def files(self) -> int:
        return len(self.changed_lines)

    @property
    def lines(self) -> int:
        return sum(len(lines) for lines in self.changed_lines.values())


def plan_push(
    *,
    last_reviewed_head: str | None,
    last_reviewed_base: str | None,
    head: str,
    base: str,
    comparison: Comparison | None,
    last_review_complete: bool = True,
) -> PushPlan:
    """Incremental only when the new head is a pure fast-forward of the last reviewed one
    (GitHub says "ahead"), the pull request's base did not move, and GitHub sent the whole
    comparison with every file's patch; otherwise a full review, saying why.

    `comparison` is GitHub's compare of `last_reviewed_head...head` (None when it could not
    be had). `last_review_complete` is False when the last review left lines unread (over
    the call budget, a model error): reviewing only the new lines would never read them.
    """

    def full(reason: str, commits: int = 0) -> PushPlan:
        return PushPlan(
            FULL, reason, commits=commits, last_reviewed_head=last_reviewed_head or "", head=head
        )

    if not last_reviewed_head:
        return full(NO_EARLIER_REVIEW)
    if not last_review_complete:
        return full(EARLIER_REVIEW_INCOMPLETE)
    if not last_reviewed_base:
        return full(BASE_UNKNOWN)
    if base != last_reviewed_base:
        return full(BASE_MOVED)
    if comparison is None:
        return full(NO_COMPARISON)
    commits = comparison.total_commits
    if comparison.status in ("behind", "diverged"):
        return full(REWRITTEN, commits)
    if comparison.status == "identical" or (comparison.status == "ahead" and not commits):
        return full(NOTHING_NEW)
    if comparison.status != "ahead":
        return full(f"GitHub compared the heads as {comparison.status or 'unknown'!r}", commits)
    if comparison.truncated or comparison.files is None:
        return full(TOO_LARGE, commits)
    if any(file.patch_missing for file in comparison.files):
        return full(PATCH_MISSING, commits)
    try:
        changed = changed_lines(comparison.files)
    except DiffError:
        return full(UNREADABLE, commits)
    return PushPlan(
        INCREMENTAL,
        f"{commits} new commit{'s' if commits != 1 else ''} on top of the last review",
        changed_lines=changed,
        commits=commits,
        last_reviewed_head=last_reviewed_head,
        head=head,
    )


def changed_lines(files: Iterable[ComparedFile]) -> dict[str, set[int]]:
    """Per path, the new-side lines the compare's patches added or modified.

    A deleted line has no new-side number, so the lines either side of it are marked
    instead: a finding there may be about what was removed. A file without a patch (binary,
    a pure rename, a mode change) or one that was removed is present with no lines.
    Raises DiffError when a patch cannot be read.
    """
    changed: dict[str, set[int]] = {}
    for entry in files:
        lines = changed.setdefault(entry.filename, set())
        if entry.patch is None or entry.status == "removed":
            continue
        [diff] = from_github_files(
            [
                {
                    "filename": entry.filename,
                    "previous_filename": entry.previous_filename,
                    "status": entry.status,
                    "patch": entry.patch,
                }
            ]
        )
        for hunk in diff.hunks:
            lines |= _hunk_changes(hunk)
    return changed


def _hunk_changes(hunk: Hunk) -> set[int]:
    marked: set[int] = set()
    before: int | None = None  # the last new-side line seen
    after_deletion = False
    for line in hunk.lines:
        if line.kind == "-":
            if before is not None:
                marked.add(before)
            after_deletion = True
            continue
        if line.new_lineno is None:
            continue
        if line.kind == "+" or after_deletion:
            marked.add(line.new_lineno)
        before, after_deletion = line.new_lineno, False
    if after_deletion and before is None:
        # Only deletions, no line left around them in the hunk: the line where they were.
        marked.add(max(hunk.new_start, 1))
    return marked


def restrict_to_changes(
    files: list[FileDiff],
    changed_lines: Mapping[str, Iterable[int]],
    context: int = DEFAULT_CONTEXT,
) -> list[FileDiff]:
    """The PR's files and hunks that the new commits touched.

    A hunk is kept whole when one of its new-side lines, or `context` lines around it, is
    changed; line numbers are untouched, so findings anchor as on the full diff. A file the
    new commits did not touch is dropped (it is unchanged since the last review, not
    skipped). A touched file without hunks (binary, pure rename) or a removed one is kept
    as it is, so the file filter still reports it.
    """
    kept_files = []
    for file in files:
        if file.path not in changed_lines:
            continue
        if not file.hunks or file.status == REMOVED:
            kept_files.append(file)
            continue
        lines = sorted(set(changed_lines[file.path]))
        hunks = tuple(hunk for hunk in file.hunks if _touches(hunk, lines, context))
        if len(hunks) == len(file.hunks):
            kept_files.append(file)
        elif hunks:
            kept_files.append(replace(file, hunks=hunks))
    return kept_files


def _touches(hunk: Hunk, sorted_lines: list[int], context: int) -> bool:
    first = hunk.new_start
    last = hunk.new_start + max(hunk.new_count, 1) - 1
    index = bisect_left(sorted_lines, first - context)
    return index < len(sorted_lines) and sorted_lines[index] <= last + context
