"""The footer lines that say which repository policy a review followed. Pure.

"Policy: .github/prism.yml @ main a1b2c3d · 3 ignore globs · 2 path rules · inline ≥ high",
then, when they apply, the file's errors (the operator's settings were used instead), what
the operator refused, and that this pull request's edit of the file counts only after merge.
Everything taken from the file is the repository's text, so it is sanitised like the model's.
"""

import re
from collections.abc import Collection, Mapping
from typing import Any

from reviews.comments.sanitize import code_span, sanitize_inline

LINE_CHARS = 300
MAX_ERRORS_SHOWN = 5


def policy_lines(record: Mapping[str, Any], *, hosts: Collection[str] = ()) -> list[str]:
    """The footer's policy lines for an analysis's stored policy record ({}: none shown)."""
    if not record:
        return []
    file = record.get("file")
    lines = []
    if file:
        sha = re.sub(r"[^0-9a-fA-F]", "", str(file.get("sha") or ""))[:7]
        parts = [f"Policy: {_code(file.get('path'))} @ {_code(file.get('ref'))} {sha}".rstrip()]
        if record.get("ignore_globs"):
            parts.append(_plural(int(record["ignore_globs"]), "ignore glob"))
        if record.get("path_rules"):
            parts.append(_plural(int(record["path_rules"]), "path rule"))
        if record.get("inline_from_file"):
            parts.append(f"inline ≥ {_text(record.get('inline_min_severity'), hosts)}")
        lines.append(" · ".join(parts))
    errors = [str(error) for error in record.get("errors") or ()]
    if errors:
        where = _code(file.get("path")) if file else "The repository policy"
        shown = "; ".join(_text(error, hosts) for error in errors[:MAX_ERRORS_SHOWN])
        more = len(errors) - MAX_ERRORS_SHOWN
        lines.append(
            f"{where} is not valid, so the operator's settings apply: {shown}"
            + (f" (and {more} more)" if more > 0 else "")
        )
    for refused in record.get("refused") or ():
        lines.append(f"Policy: {_text(refused, hosts)}.")
    if record.get("edits_file") and file:
        lines.append(
            f"This pull request edits {_code(file.get('path'))}: the change takes effect after "
            f"it is merged; this review followed the file on {_code(file.get('ref'))}."
        )
    elif record.get("edits_file"):
        lines.append(
            "This pull request adds a repository policy: it takes effect after it is merged."
        )
    return lines


def _code(value: Any) -> str:
    # A code span shows its text literally: no link, mention or markup can come of a branch name.
    return code_span(str(value or "")[:LINE_CHARS])


def _text(value: Any, hosts: Collection[str]) -> str:
    return sanitize_inline(str(value or ""), hosts=hosts, limit=LINE_CHARS)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
