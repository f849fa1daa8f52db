"""Where findings sit on a diff: the new side's text per hunk, and whether GitHub would take
an inline comment on a finding's lines (docs/github-facts.md C4). Pure."""

from dataclasses import replace

from reviews import results
from reviews.diffs import parser
from reviews.results import Finding


def new_side(files: list[parser.FileDiff]) -> results.NewSide:
    """Each file's new side as the diff shows it: context and added lines, per hunk."""
    return results.NewSide(
        {
            file.path: tuple(
                (
                    hunk.new_start,
                    tuple(results.same_code(ln.text) for ln in hunk.lines if ln.kind != "-"),
                )
                for hunk in file.hunks
                if hunk.new_count
            )
            for file in files
            if file.new_path is not None  # a removed file has no new side to anchor on
        }
    )


def anchor(found: list[Finding], files: list[parser.FileDiff]) -> list[Finding]:
    """Mark each finding anchored when GitHub would accept a comment on its line, and give
    it the text of its lines (its identity across pushes, see `results.finding_fingerprint`).

    A finding off the diff is kept (the summary still shows it) but never posted inline,
    where it would make GitHub reject the whole review (docs/github-facts.md C4).
    """
    by_path = {file.path: file for file in files}
    shown = new_side(files)
    anchored = []
    for finding in found:
        file = by_path.get(finding.path)
        line, end_line = finding.line, finding.end_line
        ok = file is not None and line > 0 and file.commentable(line)
        if not (
            ok
            and file is not None
            and end_line is not None
            and end_line > line
            and _same_hunk(file, line, end_line)
        ):
            end_line = None
        text = shown.text(finding.path, line, end_line) if ok else ""
        anchored.append(replace(finding, end_line=end_line, anchored=ok, anchor_text=text))
    return anchored


def _same_hunk(file: parser.FileDiff, start: int, end: int) -> bool:
    return any(first <= start and end <= last for first, last in file.right_ranges)
