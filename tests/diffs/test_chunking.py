"""reviews.diffs.chunking: rendering files for the model and packing them into calls."""

import re

import pytest

from reviews.diffs.chunking import Chunk, estimate_tokens, plan_chunks, render
from reviews.diffs.file_filter import select_files
from reviews.diffs.parser import FileDiff
from reviews.results import Skipped
from tests.diffs.samples import HUGE, parsed
from tests.fixtures import diff_names

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
