"""Incremental review of a push: when it is safe (plan_push), which lines the new commits
changed (changed_lines), and what of the PR's diff the model then reads (restrict_to_changes),
against real diffs from tests/fixtures/github/diffs."""

import pytest

from reviews.diffs import incremental
from reviews.diffs.incremental import changed_lines, plan_push, restrict_to_changes
from reviews.github import resources
from reviews.github.resources import ComparedFile
from tests import stubs
from tests.diffs.samples import parsed
from tests.fixtures import DIFFS

OLD, NEW, BASE = "1" * 40, "2" * 40, "b" * 40
AUTH = "src/requests/auth.py"


def fixture_hunk_patch(name: str, header_line: int) -> str:
    """The text of one hunk of a fixture diff, from its @@ line: a compare entry's `patch`."""
    lines = (DIFFS / f"{name}.diff").read_text(encoding="utf-8").split("\n")[header_line - 1 :]
    ends = (i for i, line in enumerate(lines[1:], 1) if line.startswith(("@@", "diff ")))
    return "\n".join(lines[: next(ends, len(lines))]).rstrip("\n")


# The third of the five hunks of 12-multiple-hunks, as if a push had made just that change.
THIRD_HUNK = fixture_hunk_patch("12-multiple-hunks", 23)


def comparison(status: str = "ahead", commits: int = 2, files=None) -> resources.Comparison:
    files = [stubs.compared_file(AUTH, THIRD_HUNK)] if files is None else files
    return resources.comparison(stubs.comparison_json(status=status, commits=commits, files=files))


def plan(**overrides) -> incremental.PushPlan:
    arguments = {
        "last_reviewed_head": OLD,
        "last_reviewed_base": BASE,
        "head": NEW,
        "base": BASE,
        "comparison": comparison(),
    }
    return plan_push(**{**arguments, **overrides})


# plan_push: incremental only when GitHub vouches for a clean fast-forward.


def test_a_fast_forward_on_an_unmoved_base_is_reviewed_incrementally():
    result = plan()

    assert (result.mode, result.commits) == ("incremental", 2)
    assert result.reason == "2 new commits on top of the last review"
    assert result.changed_lines == {AUTH: {163, 164}}
    assert (result.files, result.lines) == (1, 2)
    assert (result.last_reviewed_head, result.head) == (OLD, NEW)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"last_reviewed_head": None}, "no earlier completed review"),
        ({"last_reviewed_base": ""}, "the last review's base commit is unknown"),
        ({"base": "c" * 40}, "the base branch moved"),
        ({"comparison": comparison(status="diverged")}, "history was rewritten"),
        ({"comparison": comparison(status="behind")}, "history was rewritten"),
        ({"comparison": None}, "GitHub could not compare"),
        ({"comparison": comparison(status="identical", commits=0)}, "no new commits"),
        ({"comparison": comparison(commits=250)}, "the comparison is too large"),
        (
            {
                "comparison": comparison(
                    files=[stubs.compared_file(f"f{n}", "") for n in range(300)]
                )
            },
            "the comparison is too large",
        ),
        ({"last_review_complete": False}, "left parts of the pull request unread"),
    ],
    ids=[
        "first-review",
        "unknown-base",
        "base-moved",
        "force-push",
        "reset-back",
        "no-comparison",
        "identical",
        "250-commits",
        "300-files",
        "last-review-incomplete",
    ],
)
def test_anything_github_cannot_vouch_for_is_a_full_review(overrides, reason):
    result = plan(**overrides)

    assert result.mode == "full"
    assert reason in result.reason
    assert result.changed_lines == {}


def test_the_base_moving_wins_over_a_clean_fast_forward():
    result = plan(base="c" * 40, comparison=comparison(status="ahead"))

    assert (result.mode, result.reason) == ("full", "the base branch moved")


def test_a_file_github_sent_no_patch_for_means_a_full_review():
    too_big = {**stubs.compared_file("data/big.json", None), "additions": 5000}
    result = plan(comparison=comparison(files=[stubs.compared_file(AUTH, THIRD_HUNK), too_big]))

    assert result.mode == "full"
    assert result.reason == "the comparison is too large (GitHub sent no diff for some files)"


def test_a_binary_file_without_a_patch_does_not_prevent_an_incremental_review():
    image = stubs.compared_file("docs/logo.png", None)  # GitHub counts no lines for binaries
    result = plan(comparison=comparison(files=[stubs.compared_file(AUTH, THIRD_HUNK), image]))

    assert result.mode == "incremental"
    assert result.changed_lines == {AUTH: {163, 164}, "docs/logo.png": set()}


def test_a_patch_that_cannot_be_read_means_a_full_review():
    # GitHub's own example `patch` is two hunk headers on one line, not a diff.
    example = resources.comparison(
        {**stubs.openapi_example("commit-comparison"), "status": "ahead"}
    )

    result = plan(comparison=example)

    assert (result.mode, result.reason) == ("full", incremental.UNREADABLE)


# changed_lines: the new side of what the new commits did.


def test_added_lines_and_the_neighbours_of_a_replaced_line_are_changed():
    [entry] = comparison().files or ()

    # 163 is context above the replaced line; 164 is its replacement.
    assert changed_lines([entry]) == {AUTH: {163, 164}}


def test_a_pure_deletion_marks_the_lines_either_side_of_it():
    patch = "@@ -10,5 +10,3 @@ def f():\n a\n b\n-gone\n-also gone\n c"

    assert changed_lines([ComparedFile("m.py", "modified", patch)]) == {"m.py": {11, 12}}


def test_a_deletion_at_the_end_of_a_file_marks_the_line_before_it():
    patch = "@@ -1,3 +1,2 @@\n a\n b\n-last"

    assert changed_lines([ComparedFile("m.py", "modified", patch)]) == {"m.py": {2}}


def test_a_hunk_of_only_deletions_marks_where_they_were():
    patch = "@@ -4,2 +3,0 @@\n-x\n-y"

    assert changed_lines([ComparedFile("m.py", "modified", patch)]) == {"m.py": {3}}


def test_every_line_of_a_new_file_is_changed_and_a_removed_file_has_none():
    added = ComparedFile("new.py", "added", "@@ -0,0 +1,3 @@\n+a\n+b\n+c", additions=3)
    removed = ComparedFile("old.py", "removed", "@@ -1,2 +0,0 @@\n-a\n-b", deletions=2)

    assert changed_lines([added, removed]) == {"new.py": {1, 2, 3}, "old.py": set()}


# restrict_to_changes: the PR's whole hunks the new commits touched.


def test_only_the_hunk_a_push_touched_remains_with_its_numbers_and_anchors():
    files = parsed("12-multiple-hunks")
    [full] = files
    assert len(full.hunks) == 5

    [kept] = restrict_to_changes(files, plan().changed_lines)

    assert kept.hunks == (full.hunks[2],)  # the same Hunk: lines and numbers untouched
    assert kept.right_ranges == [(161, 167)]
    assert kept.added_lines == [164] and kept.deleted_lines == [164]
    assert all(kept.commentable(line) for line in range(161, 168))
    assert not kept.commentable(148) and full.commentable(148)


def test_files_the_push_did_not_touch_are_dropped():
    files = parsed("13-non-ascii-cjk")
    assert [f.path for f in files] == [
        "src/flask/cli.py",
        "tests/test_apps/.env",
        "tests/test_cli.py",
    ]
    patch = fixture_hunk_patch("13-non-ascii-cjk", 55)  # the second hunk of tests/test_cli.py

    [kept] = restrict_to_changes(
        files, changed_lines([ComparedFile("tests/test_cli.py", "modified", patch)])
    )

    assert kept.path == "tests/test_cli.py"
    assert kept.hunks == (files[2].hunks[1],)
    assert kept.added_lines == [523, 524]


@pytest.mark.parametrize(
    ("line", "ranges"),
    [
        (171, [(169, 175)]),
        (168, [(161, 167), (169, 175)]),  # within 3 lines of both
        (178, [(169, 175)]),
        (199, [(202, 208)]),
        (211, [(202, 208)]),
        (198, []),
        (212, []),
    ],
)
def test_a_changed_line_pulls_in_the_hunks_within_three_lines_of_it(line, ranges):
    # 12-multiple-hunks shows new lines 145-151, 153-159, 161-167, 169-175 and 202-208.
    restricted = restrict_to_changes(parsed("12-multiple-hunks"), {AUTH: {line}})

    assert [span for file in restricted for span in file.right_ranges] == ranges


def test_the_context_is_configurable():
    files = parsed("12-multiple-hunks")

    assert restrict_to_changes(files, {AUTH: {199}}, context=2) == []
    assert restrict_to_changes(files, {AUTH: {200}}, context=2)[0].right_ranges == [(202, 208)]


def test_a_touched_file_without_hunks_is_kept_so_the_filter_still_reports_it():
    files = parsed("06-binary-new-plus-text")
    binary = next(f for f in files if f.binary)

    kept = restrict_to_changes(files, {binary.path: set()})

    assert kept == [binary]


def test_a_touched_file_whose_hunks_lie_elsewhere_is_dropped():
    assert restrict_to_changes(parsed("12-multiple-hunks"), {AUTH: {1, 2, 3}}) == []
