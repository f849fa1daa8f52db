"""Which changed files a reviewer would read, and why the others are skipped. Pure.

Lockfiles, minified and generated files, vendored code, binaries, images, deleted files and
whatever IGNORE_PATHS names are skipped, each with a reason the comment's footer reports.
"""

import re
from collections.abc import Sequence
from functools import cache

from reviews.diffs.parser import REMOVED, FileDiff
from reviews.results import Skipped

LOCKFILES = frozenset({
    "uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock", "package-lock.json",
    "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock", "Cargo.lock",
    "Gemfile.lock", "composer.lock", "go.sum", "mix.lock", "pubspec.lock", "Podfile.lock",
    "packages.lock.json", "flake.lock", "gradle.lockfile", "Package.resolved",
})  # fmt: skip
IMAGE_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".icns", ".svg", ".webp", ".avif",
    ".tif", ".tiff", ".psd", ".pdf", ".eps",
)  # fmt: skip
MINIFIED_SUFFIXES = (".min.js", ".min.mjs", ".min.css", ".map")
GENERATED_SUFFIXES = (
    "_pb2.py", "_pb2.pyi", "_pb2_grpc.py", ".pb.go", ".pb.cc", ".pb.h", ".pb.swift",
    ".g.dart", ".freezed.dart", ".snap",
)  # fmt: skip
GENERATED_DIRS = frozenset({"generated", "__generated__", "__snapshots__"})
VENDORED_DIRS = frozenset({
    "vendor", "vendors", "_vendor", "third_party", "thirdparty", "node_modules", "bower_components",
})  # fmt: skip


def select_files(
    files: list[FileDiff], ignore_globs: Sequence[str] = ()
) -> tuple[list[FileDiff], list[Skipped]]:
    """Split files into those to review and those to skip, keeping the diff's order."""
    if isinstance(ignore_globs, str):  # "*.md" would otherwise be read as three globs
        raise TypeError("ignore_globs is a sequence of globs, not one string")
    reviewed, skipped = [], []
    for file in files:
        reason = skip_reason(file, ignore_globs)
        if reason is None:
            reviewed.append(file)
        else:
            lines = file.unseen_lines if reason == "no_patch" else file.changed_lines
            skipped.append(Skipped(file.path, reason, lines))
    return reviewed, skipped


def skip_reason(file: FileDiff, ignore_globs: Sequence[str] = ()) -> str | None:
    """Why a file is not worth an LLM's tokens, or None to review it. The first reason wins."""
    path = file.path
    if any(_glob(pattern).fullmatch(path) for pattern in ignore_globs):
        return "ignored"  # the repository owner asked; say so rather than guess a reason
    if file.status == REMOVED:
        # Findings must anchor on the new side, and a deleted file has none.
        return "removed"
    if file.is_submodule:
        return "submodule"
    return _path_reason(path) or _content_reason(file)


def _path_reason(path: str) -> str | None:
    directories, _, name = path.rpartition("/")
    parts = directories.split("/") if directories else []
    lower = name.lower()
    if lower.endswith(IMAGE_SUFFIXES):  # even an SVG is text no reviewer reads as code
        return "image"
    if name in LOCKFILES:
        return "lockfile"
    if lower.endswith(MINIFIED_SUFFIXES):
        return "minified"
    if lower.endswith(GENERATED_SUFFIXES) or ".generated." in lower or GENERATED_DIRS & {*parts}:
        return "generated"
    if VENDORED_DIRS & {*parts} or _in_nested_packages_dir(parts):
        return "vendored"
    return None


def _in_nested_packages_dir(parts: list[str]) -> bool:
    """requests/packages/urllib3/… is how requests (and old pip) vendored libraries (fixture 19).

    Only a library directory below a package's own packages/ counts: requests/packages/__init__.py
    is requests' code, and a top-level packages/ is a JavaScript monorepo, reviewed as usual.
    """
    return any(part == "packages" for part in parts[1:-1])


def _content_reason(file: FileDiff) -> str | None:
    if file.binary:
        return "binary"
    if file.patch_missing:
        return "no_patch"
    if not file.hunks:  # pure rename, mode change, empty file: no line to comment on
        return "no_changes"
    return None


_GLOB_CHARS = {"*": "[^/]*", "?": "[^/]"}


def matches_glob(pattern: str, path: str, *, anywhere: bool = True) -> bool:
    """Whether `path` matches the glob, as IGNORE_PATHS reads it; `anywhere=False` keeps a
    pattern without a slash to the top level (a branch name "main" is not "fix/main")."""
    return _glob(pattern, anywhere).fullmatch(path) is not None


@cache
def _glob(pattern: str, anywhere: bool = True) -> re.Pattern[str]:
    """A whole-path glob: `*`, `?` and `[…]` stay within a directory, `**` crosses them.

    As in .gitignore, a pattern without a slash matches a name at any depth ("*.md").
    """
    if anywhere and "/" not in pattern:
        pattern = "**/" + pattern
    regex, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            regex.append(".*")
            i += 2
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) > 0:
            chars = pattern[i + 1 : end]
            regex.append("[" + ("^/" + chars[1:] if chars[0] == "!" else chars) + "]")
            i = end + 1
        else:
            regex.append(_GLOB_CHARS.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return re.compile("".join(regex))
