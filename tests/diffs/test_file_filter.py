"""reviews.diffs.file_filter: which files of 25 real diffs are read, and why the rest are not."""

import pytest

from reviews.diffs.file_filter import select_files
from reviews.diffs.parser import FileDiff, parse
from reviews.results import SKIP_REASONS, Skipped
from tests.diffs.samples import parsed
from tests.fixtures import diff_names

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
