"""reviews.diff and reviews.chunking against git's own numbers for 25 real diffs.

Each `.expected.json` comes from git itself (numstat, raw, -U0 hunk headers), so these tests
check our parser against git rather than against our reading of the format.
"""

import re
from functools import cache
from typing import Any

import pytest

from reviews.diffs.chunking import Chunk, estimate_tokens, plan_chunks, render
from reviews.diffs.file_filter import select_files
from reviews.diffs.parser import DiffError, FileDiff, Line, from_github_files, parse
from reviews.results import SKIP_REASONS, Skipped
from tests.fixtures import diff_expected, diff_names, diff_text

STATUSES = {"A": "added", "D": "removed", "M": "modified", "R": "renamed"}
ABSENT_MODE = "000000"  # how git --raw writes the mode of the side that does not exist
HUGE = "24-very-large-release-range"

# The expected line numbers come from `git diff -U0`, which aligned one blank line differently
# from the -U3 diff GitHub serves: there new line 5 is context and new line 28 is added.
# Both diffs are correct; we number the diff we are given. (ours only, git -U0 only)
REALIGNED = {("23-large-release-range-binary", "CHANGES.rst"): ({28}, {5})}


@cache
def parsed(name: str) -> list[FileDiff]:
    return parse(diff_text(name))


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


# --- select_files ----------------------------------------------------------------------------


def reasons(name: str, ignore_globs: tuple[str, ...] = ()) -> dict[str, str | None]:
    reviewed, skipped = select_files(parsed(name), ignore_globs)
    return {f.path: None for f in reviewed} | {s.path: s.reason for s in skipped}


@pytest.mark.parametrize("name", diff_names())
def test_select_files_loses_nothing_and_keeps_the_diff_order(name):
    files = parsed(name)
    reviewed, skipped = select_files(files, ["docs/**"])
    assert sorted([f.path for f in reviewed] + [s.path for s in skipped]) == sorted(
        f.path for f in files
    )
    assert reviewed == [f for f in files if f in reviewed]
    assert all(s.reason in SKIP_REASONS for s in skipped)


def test_a_lockfile_is_skipped_with_its_changed_lines():
    reviewed, skipped = select_files(parsed("18-lockfile-uv-lock"))
    assert skipped == [Skipped("uv.lock", "lockfile", 449 + 318)]
    assert len(reviewed) == 5


def test_a_vendored_tree_is_skipped_but_the_package_owning_it_is_reviewed():
    found = reasons("19-vendored-urllib3")
    assert found.pop("requests/packages/__init__.py") is None
    assert set(found.values()) == {"vendored"} and len(found) == 10


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("web/node_modules/left-pad/index.js", "vendored"),
        ("src/pip/_vendor/rich/console.py", "vendored"),
        ("third_party/zlib/zlib.h", "vendored"),
        ("vendor/github.com/x/y.go", "vendored"),
        ("packages/ui/src/button.tsx", None),  # a JavaScript monorepo workspace
        ("static/app.min.js", "minified"),
        ("static/app.js.map", "minified"),
        ("api/v1/service_pb2.py", "generated"),
        ("api/service.pb.go", "generated"),
        ("web/src/__generated__/schema.ts", "generated"),
        ("tests/__snapshots__/view.test.js.snap", "generated"),
        ("frontend/pnpm-lock.yaml", "lockfile"),
        ("go.sum", "lockfile"),
        ("docs/logo.SVG", "image"),
        ("docs/guide.pdf", "image"),
        ("src/app.py", None),
    ],
)
def test_paths_are_skipped_for_what_they_are(path, reason):
    hunk = parse(f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n")[0].hunks
    file = FileDiff(path, path, "modified", hunks=hunk)
    assert select_files([file]) == (
        ([file], []) if reason is None else ([], [Skipped(path, reason, 2)])
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("06-binary-new-plus-text", "image"),
        ("07-binary-modified", "image"),
        ("04-rename-no-change", "no_changes"),
        ("08-mode-change-only", "no_changes"),
        ("16-empty-new-file", "no_changes"),
        ("17-submodule-added", "submodule"),
        ("03-deleted-file", "removed"),
    ],
)
def test_files_without_reviewable_lines_are_skipped_with_a_reason(name, reason):
    assert reason in reasons(name).values()


def test_a_binary_file_that_is_not_an_image_is_skipped_as_binary():
    text = (
        "diff --git a/lib/x.so b/lib/x.so\n"
        "index 1..2 100755\n"
        "Binary files a/lib/x.so and b/lib/x.so differ\n"
    )
    assert select_files(parse(text))[1] == [Skipped("lib/x.so", "binary", 0)]


def test_a_deleted_file_counts_its_deleted_lines():
    assert select_files(parsed("03-deleted-file"))[1] == [Skipped("MANIFEST.in", "removed", 11)]


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("docs/**", "docs/a/b.rst", True),
        ("docs/**", "src/docs.py", False),
        ("*.md", "README.md", True),
        ("*.md", "docs/deep/guide.md", True),  # no slash: any depth, as in .gitignore
        ("src/*.py", "src/app.py", True),
        ("src/*.py", "src/pkg/app.py", False),
        ("src/**/*.py", "src/app.py", True),
        ("src/**/*.py", "src/a/b/app.py", True),
        ("**/migrations/*", "app/migrations/0001_initial.py", True),
        ("test_?.py", "test_a.py", True),
        ("[!t]*.py", "tests/app.py", True),
        ("[!t]*.py", "tests.py", False),
        ("setup.cfg", "setup.cfg", True),
        ("setup.cfg", "old-setup.cfg", False),
    ],
)
def test_ignore_globs_match_whole_paths(glob, path, matches):
    file = FileDiff(path, path, "modified", hunks=parsed("01-plain-modification")[0].hunks)
    skipped = select_files([file], [glob])[1]
    assert skipped == ([Skipped(path, "ignored", 3)] if matches else [])


def test_ignore_globs_must_be_a_list_not_one_string():
    with pytest.raises(TypeError):
        select_files(parsed("01-plain-modification"), "*.md")


def test_ignore_globs_win_over_other_reasons():
    found = reasons("18-lockfile-uv-lock", ("*.lock", ".github/**"))
    assert found["uv.lock"] == "ignored"
    assert [path for path, why in found.items() if why is None] == [".pre-commit-config.yaml"]


# --- render and estimate_tokens --------------------------------------------------------------

ADDED_LINE = re.compile(r"^ *(\d+) \+ ", re.MULTILINE)
DELETED_LINE = re.compile(r"^ + - ", re.MULTILINE)


@pytest.mark.parametrize("name", diff_names())
def test_render_shows_the_new_file_number_of_every_added_line(name):
    for file in parsed(name):
        text = render(file)
        assert [int(n) for n in ADDED_LINE.findall(text)] == file.added_lines
        assert len(DELETED_LINE.findall(text)) == len(file.deleted_lines)


def test_render_looks_like_this():
    (file,) = parsed("05-rename-with-change")
    lines = render(file).splitlines()
    assert lines[:7] == [
        "FILE requests/sessions.py (renamed from requests/session.py)",
        "@@ -23,22 +23,25 @@ class Session(object):",
        "23                   kwargs.iterkeys(), kwargs.itervalues())",
        "24           # Map and wrap requests.api methods",
        "25           self._map_api_methods()",
        "   -         ",
        "26 + ",
    ]


def test_render_of_some_hunks_says_it_is_an_excerpt():
    (file,) = parsed("12-multiple-hunks")
    first, second = render(file, file.hunks[:1]), render(file, file.hunks[1:2])
    assert "excerpt" in first.splitlines()[0]
    assert [int(n) for n in ADDED_LINE.findall(first + second)] == file.added_lines[:2]
    assert "excerpt" not in render(file).splitlines()[0]


@pytest.mark.parametrize(
    ("text", "tokens"), [("", 0), ("abc", 1), ("abcd", 2), ("日本語", 3), ("🙂", 2)]
)
def test_estimate_tokens_counts_utf8_bytes_by_three_rounded_up(text, tokens):
    assert estimate_tokens(text) == tokens


# --- plan_chunks -----------------------------------------------------------------------------


def reviewable(name: str) -> list[FileDiff]:
    return select_files(parsed(name))[0]


def hunk_keys(chunks: list[Chunk]) -> list[tuple[str, int, int]]:
    return [
        (file.path, hunk.old_start, hunk.new_start)
        for chunk in chunks
        for file, hunks in chunk.parts
        for hunk in hunks
    ]


@pytest.mark.parametrize(("max_tokens", "max_calls"), [(24000, 20), (24000, 6), (3000, 40)])
def test_every_reviewable_line_is_either_chunked_or_reported_over_budget(max_tokens, max_calls):
    files = reviewable(HUGE)
    chunks, skipped = plan_chunks(files, max_tokens=max_tokens, max_calls=max_calls)
    assert len(chunks) <= max_calls
    assert {s.reason for s in skipped} <= {"over_call_budget"}
    chunked = sum(chunk.changed_lines for chunk in chunks)
    assert chunked + sum(s.lines for s in skipped) == sum(f.changed_lines for f in files)
    keys = hunk_keys(chunks)
    assert len(keys) == len(set(keys)), "a hunk was sent twice"
    lines_by_path = {f.path: f.changed_lines for f in files}
    for s in skipped:
        chunked_here = sum(
            h.changed_lines for c in chunks for f, hs in c.parts for h in hs if f.path == s.path
        )
        assert chunked_here + s.lines == lines_by_path[s.path]


@pytest.mark.parametrize(("max_tokens", "max_calls"), [(24000, 20), (2000, 200), (500, 1000)])
def test_no_chunk_exceeds_the_budget_unless_it_is_one_oversized_hunk(max_tokens, max_calls):
    chunks, skipped = plan_chunks(reviewable(HUGE), max_tokens=max_tokens, max_calls=max_calls)
    assert skipped == []
    for chunk in chunks:
        assert chunk.tokens == estimate_tokens(chunk.text)
        if chunk.tokens > max_tokens:
            ((_, hunks),) = chunk.parts
            assert len(hunks) == 1


def test_hunks_are_never_split_and_each_is_sent_exactly_once():
    files = reviewable(HUGE)
    chunks, _ = plan_chunks(files, max_tokens=2000, max_calls=1000)
    every_hunk = [(f.path, h.old_start, h.new_start) for f in files for h in f.hunks]
    assert sorted(hunk_keys(chunks)) == sorted(every_hunk)
    originals = {id(h) for f in files for h in f.hunks}
    assert all(id(h) in originals for c in chunks for _, hs in c.parts for h in hs)


def test_a_file_bigger_than_a_chunk_is_split_by_hunks():
    (file,) = [
        f for f in reviewable("22-large-release-range") if f.path == "tests/test_requests.py"
    ]
    assert estimate_tokens(render(file)) > 8000
    chunks, skipped = plan_chunks([file], max_tokens=8000, max_calls=20)
    assert len(chunks) > 1 and skipped == []
    assert all(chunk.tokens <= 8000 for chunk in chunks)
    assert all(
        chunk.text.startswith("FILE tests/test_requests.py (modified; excerpt") for chunk in chunks
    )
    # Every hunk exactly once (a chunk may hold two excerpts of the file that fit together).
    in_chunks = [h for c in chunks for _, hs in c.parts for h in hs]
    assert sorted(in_chunks, key=lambda h: h.new_start) == list(file.hunks)


def test_the_whole_huge_diff_fits_twenty_calls_of_24000_tokens():
    files = reviewable(HUGE)
    chunks, skipped = plan_chunks(files, max_tokens=24000, max_calls=20)
    assert skipped == []
    assert sum(c.changed_lines for c in chunks) == sum(f.changed_lines for f in files)
    assert {p for c in chunks for p in c.paths} == {f.path for f in files}


def test_a_short_budget_is_packed_tight_with_the_densest_changes():
    files = reviewable(HUGE)
    chunks, skipped = plan_chunks(files, max_tokens=24000, max_calls=6)
    assert len(chunks) == 6 and skipped
    assert all(chunk.tokens > 0.99 * 24000 for chunk in chunks)
    share_of_lines = sum(c.changed_lines for c in chunks) / sum(f.changed_lines for f in files)
    share_of_tokens = 6 * 24000 / sum(estimate_tokens(render(f)) for f in files)
    assert share_of_lines > share_of_tokens


def test_with_no_calls_left_everything_is_reported_over_budget():
    files = reviewable("18-lockfile-uv-lock")
    chunks, skipped = plan_chunks(files, max_tokens=24000, max_calls=0)
    assert chunks == []
    assert skipped == [
        Skipped(f.path, "over_call_budget", f.changed_lines)
        for f in sorted(files, key=lambda f: f.path)
    ]


def test_small_files_share_a_chunk_and_its_text_is_their_renderings():
    files = reviewable("18-lockfile-uv-lock")
    (chunk,), skipped = plan_chunks(files, max_tokens=24000, max_calls=20)
    assert skipped == []
    assert chunk.paths == sorted(f.path for f in files)
    assert chunk.text == "\n".join(render(f) for f in sorted(files, key=lambda f: f.path))


def test_files_without_hunks_are_reported_not_dropped():
    files = parsed("16-empty-new-file")
    chunks, skipped = plan_chunks(files, max_tokens=24000, max_calls=20)
    assert [c.paths for c in chunks] == [[".travis.yml"]]
    assert skipped == [Skipped(".travis-release-requirements.txt", "no_changes", 0)]


def test_a_budget_below_one_token_is_refused():
    with pytest.raises(ValueError, match="max_tokens"):
        plan_chunks([], max_tokens=0, max_calls=1)
