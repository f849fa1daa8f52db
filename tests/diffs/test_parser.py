"""reviews.diffs.parser against git's own numbers for 25 real diffs.

Each `.expected.json` comes from git itself (numstat, raw, -U0 hunk headers), so these tests
check our parser against git rather than against our reading of the format.
"""

import re
from typing import Any

import pytest

from reviews.diffs.file_filter import select_files
from reviews.diffs.parser import DiffError, FileDiff, Line, from_github_files, parse
from reviews.results import Skipped
from tests.diffs.samples import HUGE, parsed
from tests.fixtures import diff_expected, diff_names, diff_text

STATUSES = {"A": "added", "D": "removed", "M": "modified", "R": "renamed"}
ABSENT_MODE = "000000"  # how git --raw writes the mode of the side that does not exist

# The expected line numbers come from `git diff -U0`, which aligned one blank line differently
# from the -U3 diff GitHub serves: there new line 5 is context and new line 28 is added.
# Both diffs are correct; we number the diff we are given. (ours only, git -U0 only)
REALIGNED = {("23-large-release-range-binary", "CHANGES.rst"): ({28}, {5})}


def file_pairs(name: str) -> list[tuple[FileDiff, dict[str, Any]]]:
    return list(zip(parsed(name), diff_expected(name)["files"], strict=True))


def is_exact_rename(expected: dict[str, Any]) -> bool:
    # git prints only "similarity index 100%" and the names: no index line with the mode,
    # no "Binary files" line. The diff text cannot say more, so neither can we.
    return expected["status"] == "R" and expected["similarity"] == 100


def in_ranges(line: int, ranges: list[list[int]]) -> bool:
    return any(start <= line <= end for start, end in ranges)


# --- parse: git's numbers -----------------------------------------------------------------


@pytest.mark.parametrize("name", diff_names())
def test_it_finds_every_file_with_its_status_and_paths(name):
    expected = diff_expected(name)
    assert len(parsed(name)) == expected["files_changed"] == len(expected["files"])
    for file, want in file_pairs(name):
        assert STATUSES[want["status"]] == file.status
        assert (file.old_path, file.new_path) == (want["old_path"], want["new_path"])
        assert file.path == (want["new_path"] or want["old_path"])


@pytest.mark.parametrize("name", diff_names())
def test_it_numbers_added_and_deleted_lines_like_git(name):
    for file, want in file_pairs(name):
        ours_only, git_only = REALIGNED.get((name, file.path), (set(), set()))
        assert file.added_lines == sorted(set(want["added_lines"]) - git_only | ours_only)
        assert file.deleted_lines == want["deleted_lines"]
        assert (len(file.added_lines), len(file.deleted_lines)) == (want["added"], want["deleted"])
        assert file.changed_lines == want["added"] + want["deleted"]


def test_a_blank_line_git_aligned_differently_is_numbered_as_the_served_diff_shows():
    changes = next(f for f in parsed("23-large-release-range-binary") if f.path == "CHANGES.rst")
    lines = {line.new_lineno: line for hunk in changes.hunks for line in hunk.lines}
    assert (lines[5].kind, lines[5].text) == (" ", "")
    assert (lines[28].kind, lines[28].text) == ("+", "")


@pytest.mark.parametrize("name", diff_names())
def test_its_hunk_spans_are_the_ranges_github_lets_us_comment_on(name):
    for file, want in file_pairs(name):
        assert [list(span) for span in file.right_ranges] == want["right_hunk_ranges"]
        assert [list(span) for span in file.left_ranges] == want["left_hunk_ranges"]


@pytest.mark.parametrize("name", diff_names())
def test_it_reads_binary_flags_modes_and_similarity(name):
    for file, want in file_pairs(name):
        if is_exact_rename(want):
            assert (file.old_mode, file.new_mode) == (None, None)
            assert not file.binary and not file.hunks
        else:
            assert file.binary == want["binary"]
            assert (file.old_mode or ABSENT_MODE, file.new_mode or ABSENT_MODE) == (
                want["old_mode"],
                want["new_mode"],
            )
        assert file.similarity == want["similarity"]


def test_it_keeps_hunk_sections_and_line_texts_without_markers():
    (file,) = parsed("01-plain-modification")
    (hunk,) = file.hunks
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (547, 7, 547, 8)
    assert hunk.section == "def send_from_directory("
    added = [line for line in hunk.lines if line.kind == "+"]
    assert [(line.old_lineno, line.new_lineno) for line in added] == [(None, 550), (None, 551)]
    assert not any(line.text.startswith(("+", "\n")) for line in added)


def test_no_newline_markers_are_not_lines():
    (file,) = parsed("10-no-newline-old-side")
    texts = [line.text for hunk in file.hunks for line in hunk.lines]
    assert not any("No newline at end of file" in text for text in texts)
    assert file.hunks[-1].lines[-2:] == (
        Line("-", 64, None, "            g.sqlite_db.close()"),
        Line("+", None, 64, "            g.sqlite_db.close()"),
    )


def test_non_ascii_text_survives_intact():
    (file,) = parsed("14-non-ascii-emoji")
    (added,) = [line.text for hunk in file.hunks for line in hunk.lines if line.kind == "+"]
    assert any(ord(char) > 0xFFFF for char in added)


def test_a_submodule_is_recognised():
    (file,) = parsed("17-submodule-added")
    assert file.is_submodule
    assert not parsed("01-plain-modification")[0].is_submodule


def test_git_quoted_names_are_unquoted():
    text = (
        'diff --git "a/caf\\303\\251 menu.txt" "b/caf\\303\\251 menu.txt"\n'
        "index 1111111..2222222 100644\n"
        '--- "a/caf\\303\\251 menu.txt"\n'
        '+++ "b/caf\\303\\251 menu.txt"\n'
        "@@ -1 +1 @@\n"
        "-old\n"
        "+new\n"
    )
    (file,) = parse(text)
    assert file.path == "café menu.txt" == file.old_path
    assert (file.added_lines, file.deleted_lines) == ([1], [1])


def test_a_truncated_hunk_is_an_error_not_a_guess():
    with pytest.raises(DiffError):
        parse("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n context\n")


# --- commentable ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", diff_names())
def test_commentable_is_true_inside_hunk_spans_and_false_just_outside(name):
    for file, want in file_pairs(name):
        for side, key in (("RIGHT", "right_hunk_ranges"), ("LEFT", "left_hunk_ranges")):
            ranges = want[key]
            edges = {n for start, end in ranges for n in (start - 1, start, end, end + 1)}
            for line in edges | {0, 1}:
                assert file.commentable(line, side) == in_ranges(line, ranges), (file.path, line)


def test_every_added_line_is_commentable_on_the_right():
    for file in parsed(HUGE):
        assert all(file.commentable(line) for line in file.added_lines)
        assert all(file.commentable(line, "LEFT") for line in file.deleted_lines)


def test_commentable_refuses_an_unknown_side():
    with pytest.raises(ValueError, match="side"):
        parsed("01-plain-modification")[0].commentable(550, "right")


# --- from_github_files: the fallback when the diff endpoint answers 406 ----------------------


def github_entries(name: str) -> list[dict[str, Any]]:
    """What GET /pulls/{n}/files would list for a fixture diff: the patch starts at the first @@."""
    sections = re.split(r"^diff --git ", diff_text(name), flags=re.MULTILINE)[1:]
    entries = []
    for section, want in zip(sections, diff_expected(name)["files"], strict=True):
        _, at, hunks = section.partition("\n@@ ")
        entry = {
            "filename": want["new_path"] or want["old_path"],
            "status": STATUSES[want["status"]],  # GitHub's words are ours here
            "additions": want["added"],
            "deletions": want["deleted"],
        }
        if at:
            entry["patch"] = ("@@ " + hunks).rstrip("\n")  # GitHub's patch has no final newline
        if want["status"] == "R":
            entry["previous_filename"] = want["old_path"]
        entries.append(entry)
    return entries


@pytest.mark.parametrize(
    "name", ["05-rename-with-change", "11b-no-newline-both-sides", "21-100plus-files", HUGE]
)
def test_github_file_entries_number_lines_like_the_diff(name):
    for ours, theirs in zip(parsed(name), from_github_files(github_entries(name)), strict=True):
        assert (theirs.status, theirs.old_path, theirs.new_path) == (
            ours.status,
            ours.old_path,
            ours.new_path,
        )
        assert theirs.added_lines == ours.added_lines
        assert theirs.deleted_lines == ours.deleted_lines
        assert theirs.right_ranges == ours.right_ranges
        assert theirs.left_ranges == ours.left_ranges
        assert not theirs.patch_missing


def test_a_renamed_github_entry_keeps_its_previous_name():
    (file,) = from_github_files(github_entries("05-rename-with-change"))
    assert (file.status, file.old_path, file.new_path) == (
        "renamed",
        "requests/session.py",
        "requests/sessions.py",
    )


def test_a_github_entry_without_a_patch_is_skipped_as_not_shown():
    entry = {"filename": "big.sql", "status": "modified", "additions": 90000, "deletions": 12}
    (file,) = from_github_files([entry])
    assert file.patch_missing and not file.binary and not file.hunks
    assert select_files([file]) == ([], [Skipped("big.sql", "no_patch", 90012)])


def test_a_github_entry_without_a_patch_or_counted_lines_has_no_changes():
    entry = {"filename": "tool.bin", "status": "added", "additions": 0, "deletions": 0}
    (file,) = from_github_files([entry])
    assert not file.patch_missing
    assert select_files([file]) == ([], [Skipped("tool.bin", "no_changes", 0)])


@pytest.mark.parametrize(
    ("github", "ours", "old_path", "new_path"),
    [
        ("added", "added", None, "new.py"),
        ("removed", "removed", "new.py", None),
        ("modified", "modified", "new.py", "new.py"),
        ("changed", "modified", "new.py", "new.py"),
        ("unchanged", "modified", "new.py", "new.py"),
        ("renamed", "renamed", "old.py", "new.py"),
        ("copied", "added", "old.py", "new.py"),
    ],
)
def test_github_statuses_fold_into_our_four(github, ours, old_path, new_path):
    entry = {"filename": "new.py", "status": github, "additions": 0, "deletions": 0}
    if github in ("renamed", "copied"):
        entry["previous_filename"] = "old.py"
    (file,) = from_github_files([entry])
    assert (file.status, file.old_path, file.new_path) == (ours, old_path, new_path)
