"""What the developer sees: the sticky summary comment, the failure notice, inline finding bodies.

Everything that came from the model or the pull request goes through reviews.sanitize; the
markup around it is ours. Pure: no Django imports.
"""

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reviews.comments.policy_note import policy_lines
from reviews.comments.sanitize import (
    MARKER,
    code_fence,
    code_span,
    sanitize_block,
    sanitize_inline,
    shorten,
)
from reviews.github.resources import MAX_COMMENT_CHARS, PullRequest, diff_line_url
from reviews.redaction import redact
from reviews.results import (
    CATEGORIES,
    SKIP_REASONS,
    ChunkModel,
    Coverage,
    Finding,
    ReviewResult,
    Scope,
    Skipped,
    Standing,
    Usage,
    skip_reason,
)
from reviews.results import SEVERITIES as LEAST_SEVERE_FIRST

SEVERITIES = tuple(reversed(LEAST_SEVERE_FIRST))  # most severe first, as the comment reads
SECTION_TITLES = {
    "bug": "Bugs",
    "security": "Security",
    "performance": "Performance",
    "style": "Style",
}
CATEGORY_LABELS = {
    "bug": "Bug",
    "security": "Security",
    "performance": "Performance",
    "style": "Style",
}
# "2 low-severity bugs", "1 low-severity security finding"
FOLDED_NOUNS = {"bug": "bug", "security": "security finding", "performance": "performance finding"}

# The summary table is an overview; the inline comment carries the full text.
TITLE_CHARS = 200
BODY_CHARS = 1_000
SUGGESTION_CHARS = 120
PATH_CHARS = 200
SUMMARY_CHARS = 6_000
SKIPPED_LISTED = 100
# One inline comment: title + body + suggestion stay well under MAX_COMMENT_CHARS.
INLINE_BODY_CHARS = 20_000
INLINE_SUGGESTION_CHARS = 40_000
ERROR_CHARS = 200

# The footer counts skipped files in this order; the list below it follows SKIP_REASONS.
FOOTER_REASON_ORDER = (
    "lockfile", "minified", "generated", "vendored", "binary", "image", "ignored",
    "no_changes", "removed", "submodule", "no_patch", "over_call_budget", "model_error",
)  # fmt: skip


@dataclass(frozen=True)
class CommentContext:
    """Which review of which pull request a comment speaks for."""

    analysis_id: int
    pull_request: PullRequest
    policy: Mapping[str, Any] = field(default_factory=dict)  # the analysis's policy record
    # Each finding's id in the ledger (by fingerprint), shown so people can dismiss it by id
    # with `@<bot_name> dismiss <id>`; empty: no id column.
    finding_ids: Mapping[str, int] = field(default_factory=dict)
    bot_name: str = ""

    @property
    def pr_url(self) -> str:
        """https://github.com/o/r/pull/7, or the same on a GitHub Enterprise host."""
        return self.pull_request.html_url

    @property
    def head_sha(self) -> str:
        return self.pull_request.head_sha

    @property
    def hosts(self) -> frozenset[str]:
        """Link hosts to keep besides GitHub's: the PR's own (GitHub Enterprise)."""
        host = urlsplit(self.pr_url).hostname
        return frozenset({host} if host else ())


def _reading_order(f: Finding) -> tuple[int, str, int, int]:
    return (-f.rank, f.path, f.line, f.end_line or f.line)


def _folded(f: Finding) -> bool:
    return f.severity == "low" or f.category == "style"


Entry = tuple[Finding, list[str]]  # a finding and its rendered table cells


def render_review(
    result: ReviewResult, ctx: CommentContext, standing: Standing | None = None
) -> str:
    """The sticky summary comment for a finished review, at most MAX_COMMENT_CHARS long.

    With a `standing` (a later push), the comment shows every open finding of the pull
    request, not only this push's, leads with how things stand and marks the new ones.
    """
    findings = sorted(standing.open if standing else result.findings, key=_reading_order)
    coverage = result.coverage
    new = standing.new if standing else frozenset()
    entries = [(finding, _cells(finding, ctx, finding.fingerprint in new)) for finding in findings]
    head = [
        MARKER,
        "### Prism review",
        f"**{standing.headline}**" if standing else "",
        _verdict(findings, coverage),
        sanitize_block(result.summary, hosts=ctx.hosts, limit=SUMMARY_CHARS),
        _counts_table(findings),
    ]
    footer = _footer(coverage, result.usage, ctx, result.chunks)

    def build(shown: int) -> str:
        body = _sections(entries[:shown])
        return _document([*head, *body, _omitted(len(entries) - shown, ctx), footer])

    return _longest_that_fits(build, len(entries)) or _document([*head[:3], _omitted(-1, ctx)])


def render_failure(*, error: str, ctx: CommentContext) -> str:
    """The sticky comment for a review that failed: never mistakable for a clean one."""
    lines = error.strip().splitlines()
    # Error text can quote a request: keep no credential that might be in it.
    first = redact(lines[0])[0] if lines else ""
    reason = sanitize_inline(first, hosts=ctx.hosts, limit=ERROR_CHARS)
    return _document(
        [
            MARKER,
            "### Prism review could not be completed",
            "**This pull request has not been reviewed.** Prism stopped before it finished, so "
            "no findings were produced; this is not a clean result.",
            f"Reason: {reason or 'unknown error'}",
            f"<sub>Prism analysis {ctx.analysis_id} · {_commit_link(ctx)}</sub>",
        ]
    )


def render_inline(f: Finding, *, ctx: CommentContext | None = None) -> str:
    """The body of one inline review comment: badge, title, explanation, suggested change."""
    hosts = ctx.hosts if ctx else frozenset()
    title = sanitize_inline(f.title, hosts=hosts, limit=TITLE_CHARS * 6) or "(untitled)"
    badge = f"**{f.severity.capitalize()} · {CATEGORY_LABELS[f.category]}:** {title}"
    body = sanitize_block(f.body, hosts=hosts, limit=INLINE_BODY_CHARS)
    return _document([badge, body, _suggestion_block(f), _inline_commands(f, ctx)])


def _inline_commands(f: Finding, ctx: CommentContext | None) -> str:
    """How to dismiss or ask about this finding from its thread."""
    finding_id = ctx.finding_ids.get(f.fingerprint) if ctx else None
    if ctx is None or finding_id is None or not ctx.bot_name:
        return ""
    at = f"@{ctx.bot_name}"
    return (
        f"<sub>Finding `{finding_id}` · reply `{at} dismiss reason` to dismiss it, "
        f"`{at} ask question` to ask about it</sub>"
    )


def _suggestion_block(f: Finding) -> str:
    if f.suggestion is None:
        return ""
    if len(f.suggestion) > INLINE_SUGGESTION_CHARS:
        lines = _plural(f.suggestion.count("\n") + 1, "line")
        return f"_The suggested change ({lines}) is too long to show here._"
    # GitHub can only apply a suggestion on a line in the diff; elsewhere it is plain code.
    code = code_fence(f.suggestion.removesuffix("\n"), info="suggestion" if f.anchored else "")
    return code if f.anchored else f"Suggested code:\n\n{code}"


def _document(parts: list[str]) -> str:
    return "\n\n".join(part for part in parts if part) + "\n"


def _longest_that_fits(build: Callable[[int], str], total: int) -> str | None:
    """build(n) for the largest n <= total that fits in a comment, dropping from the end."""
    if len(full := build(total)) <= MAX_COMMENT_CHARS:
        return full
    low, high = 0, total - 1
    if len(build(low)) > MAX_COMMENT_CHARS:
        return None
    while low < high:
        middle = (low + high + 1) // 2
        if len(build(middle)) <= MAX_COMMENT_CHARS:
            low = middle
        else:
            high = middle - 1
    return build(low)


def _verdict(findings: list[Finding], coverage: Coverage) -> str:
    missing = _not_reviewed(coverage)
    if not findings:
        if missing:
            return f"**No issues found in the reviewed files.** {missing}"
        return "**No issues found.**"
    severities = Counter(f.severity for f in findings)
    counts = ", ".join(f"{severities[s]:,} {s}" for s in SEVERITIES if severities[s])
    files = len({f.path for f in findings})
    verdict = f"**{_plural(len(findings), 'finding')}** in {_plural(files, 'file')}: {counts}."
    return f"{verdict} {missing}".strip()


def _not_reviewed(coverage: Coverage) -> str:
    total, reviewed = coverage.files_total, coverage.files_reviewed
    if reviewed < total:
        return f"{total - reviewed} of {_plural(total, 'file')} were not reviewed (see below)."
    if coverage.lines_reviewed < coverage.lines_total:
        return "Some changed lines were not reviewed (see below)."
    return ""


def _counts_table(findings: list[Finding]) -> str:
    if not findings:
        return ""
    counts = Counter((f.category, f.severity) for f in findings)
    rows = [
        f"| {SECTION_TITLES[c]} | " + " | ".join(f"{counts[c, s]:,}" for s in SEVERITIES) + " |"
        for c in CATEGORIES
        if any(counts[c, s] for s in SEVERITIES)
    ]
    header = "| | Critical | High | Medium | Low |\n| --- | ---: | ---: | ---: | ---: |"
    return "\n".join([header, *rows])


def _sections(entries: list[Entry]) -> list[str]:
    return [
        _section(category, [entry for entry in entries if entry[0].category == category])
        for category in CATEGORIES
    ]


def _section(category: str, entries: list[Entry]) -> str:
    if not entries:
        return ""
    shown = [entry for entry in entries if not _folded(entry[0])]
    folded = [entry for entry in entries if _folded(entry[0])]
    parts = [f"#### {SECTION_TITLES[category]} ({len(entries)})", _tables(shown)]
    if folded:
        label = _fold_label(category, len(folded))
        parts.append(f"<details>\n<summary>{label}</summary>\n\n{_tables(folded)}\n\n</details>")
    return "\n\n".join(part for part in parts if part)


def _fold_label(category: str, count: int) -> str:
    if category == "style":
        return _plural(count, "style finding")
    noun = FOLDED_NOUNS[category] if count == 1 else FOLDED_NOUNS[category] + "s"
    return f"{count:,} low-severity {noun}"


def _tables(entries: list[Entry]) -> str:
    """One table per file, files in the order of their most severe finding."""
    by_path: dict[str, list[list[str]]] = {}
    for finding, cells in entries:
        by_path.setdefault(finding.path, []).append(cells)
    return "\n\n".join(
        f"**{code_span(_short_path(path)) or '(no path)'}**\n\n{_table(rows)}"
        for path, rows in by_path.items()
    )


def _table(rows: list[list[str]]) -> str:
    columns = ["ID", "Line", "Severity", "Issue", "Suggestion"]
    kept = [
        i
        for i, name in enumerate(columns)
        if name not in ("ID", "Suggestion") or any(r[i] for r in rows)
    ]
    columns, rows = [columns[i] for i in kept], [[cells[i] for i in kept] for cells in rows]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _cells(f: Finding, ctx: CommentContext, new: bool = False) -> list[str]:
    title = sanitize_inline(f.title, hosts=ctx.hosts, limit=TITLE_CHARS * 6) or "(untitled)"
    paragraphs = re.split(r"\n\s*\n", shorten(f.body, BODY_CHARS))
    body = "<br>".join(p for p in (sanitize_inline(p, hosts=ctx.hosts) for p in paragraphs) if p)
    issue = f"**{title}**<br>{body}" if body else f"**{title}**"
    if new:
        issue = f"New: {issue}"
    finding_id = ctx.finding_ids.get(f.fingerprint)
    id_cell = f"`{finding_id}`" if finding_id is not None else ""
    return [id_cell, _line_cell(f, ctx), f.severity.capitalize(), issue, _suggestion_cell(f)]


def _line_cell(f: Finding, ctx: CommentContext) -> str:
    if f.line < 1:
        return "file"
    label = f"{f.line}-{f.end_line}" if f.end_line else str(f.line)
    if not f.anchored:
        return f"{label} (outside the diff)"
    return f"[{label}]({diff_line_url(ctx.pr_url, f.path, f.line, f.end_line)})"


def _suggestion_cell(f: Finding) -> str:
    if f.suggestion is None:
        return ""
    lines = f.suggestion.strip("\n").splitlines() or [""]
    first = code_span(shorten(lines[0].strip(), SUGGESTION_CHARS), table=True) or "(delete)"
    more = len(lines) - 1
    return f"{first} (+{_plural(more, 'more line')})" if more else first


def _omitted(count: int, ctx: CommentContext) -> str:
    where = f"see Prism analysis {ctx.analysis_id} for the full review"
    if count < 0:
        return f"_The findings are too long to show here; {where}._"
    if count == 0:
        return ""
    return f"_{_plural(count, 'more finding')} not shown (the least severe); {where}._"


def _footer(
    coverage: Coverage, usage: Usage, ctx: CommentContext, chunks: tuple[ChunkModel, ...] = ()
) -> str:
    run = [
        _models(usage, chunks),
        _commit_link(ctx),
        _usage(usage),
        f"Prism analysis {ctx.analysis_id}",
    ]
    lines = f"<sub>{_coverage_line(coverage)}</sub><br>\n<sub>{' · '.join(run)}</sub>"
    if ctx.finding_ids and ctx.bot_name:
        at = f"@{ctx.bot_name}"
        lines += (
            f"<br>\n<sub>Dismiss a finding: `{at} dismiss ID reason` (or `{at} dismiss` in its "
            f"thread) · `{at} help` lists the commands</sub>"
        )
    if coverage.scope is not None:
        lines = f"<sub>{_scope_line(coverage.scope, ctx)}</sub><br>\n{lines}"
    for line in reversed(policy_lines(ctx.policy, hosts=ctx.hosts)):
        lines = f"<sub>{line}</sub><br>\n{lines}"
    skipped = _skipped_list(coverage.skipped)
    return "\n\n".join(part for part in ["---", lines, skipped] if part)


def _models(usage: Usage, chunks: tuple[ChunkModel, ...]) -> str:
    """ "Model `m`", or, when fallback models answered, which model answered how many chunks:
    "Models `a` (2 chunks), `b` (1 chunk, fallback)"."""
    if not any(chunk.fallback or chunk.model != chunks[0].model for chunk in chunks):
        return f"Model {code_span(shorten(usage.model or 'unknown', 100))}"
    counts = Counter((chunk.model or "unknown", chunk.fallback) for chunk in chunks)
    named = [
        f"{code_span(shorten(model, 100))} ({_plural(count, 'chunk')}"
        + (", fallback)" if fallback else ")")
        # The models asked first lead; fallbacks after them.
        for (model, fallback), count in sorted(counts.items(), key=lambda item: item[0][1])
    ]
    return f"Models {', '.join(named)}"


def _scope_line(scope: Scope, ctx: CommentContext) -> str:
    """What a review of a push read: "Incremental: 3 commits a1b2c3d..e4f5a6b, 4 files, 212
    changed lines; 9 files unchanged since the last review." or "Full review: <reason>."."""
    if not scope.incremental:
        reason = sanitize_inline(scope.reason, hosts=ctx.hosts, limit=ERROR_CHARS)
        return f"Full review: {reason or 'everything was read again'}."
    since, head = (re.sub(r"[^0-9a-fA-F]", "", sha)[:7] for sha in (scope.base_sha, scope.head_sha))
    text = (
        f"Incremental: {_plural(scope.commits, 'commit')} {since}..{head}, "
        f"{_plural(scope.files, 'file')}, {_plural(scope.lines, 'changed line')}"
    )
    if scope.unchanged:
        text += f"; {_plural(scope.unchanged, 'file')} unchanged since the last review"
    return text + "."


def _coverage_line(coverage: Coverage) -> str:
    files_total, files = coverage.files_total, coverage.files_reviewed
    lines_total, lines = coverage.lines_total, coverage.lines_reviewed
    changed = _plural(lines_total, "changed line")
    if coverage.complete:
        text = f"Reviewed all {_plural(files_total, 'file')} ({changed})"
    else:
        text = f"Reviewed {files:,} of {_plural(files_total, 'file')} ({lines:,} of {changed})"
    if not coverage.skipped:
        return text + "."
    reasons = Counter(skip_reason(item.reason).code for item in coverage.skipped)
    order = [*FOOTER_REASON_ORDER, "other"]
    phrases = [
        skip_reason(r).phrase(n)
        for r, n in sorted(reasons.items(), key=lambda i: order.index(i[0]))
    ]
    return f"{text}; skipped {len(coverage.skipped):,}: {', '.join(phrases)}."


def _skipped_list(skipped: tuple[Skipped, ...]) -> str:
    """The paths not reviewed, the ones worth a look (over budget, no diff) first."""
    if not skipped:
        return ""
    order = [*SKIP_REASONS, "other"]
    items = sorted(skipped, key=lambda i: order.index(skip_reason(i.reason).code))
    lines = [_skipped_item(item) for item in items[:SKIPPED_LISTED]]
    if len(skipped) > SKIPPED_LISTED:
        lines.append(f"- and {len(skipped) - SKIPPED_LISTED:,} more")
    summary = f"{_plural(len(skipped), 'file')} not reviewed"
    return f"<details>\n<summary>{summary}</summary>\n\n" + "\n".join(lines) + "\n\n</details>"


def _skipped_item(item: Skipped) -> str:
    path = code_span(_short_path(item.path)) or "(no path)"
    label = skip_reason(item.reason).label
    return f"- {path}: {label}" + (f" ({_plural(item.lines, 'line')})" if item.lines else "")


def _usage(usage: Usage) -> str:
    if usage.cost is not None:
        return f"{_plural(usage.tokens, 'token')}, ${usage.cost:,.4f}"
    return _plural(usage.tokens, "token")


def _commit_link(ctx: CommentContext) -> str:
    sha = re.sub(r"[^0-9a-fA-F]", "", ctx.head_sha)
    if not sha:
        return "commit unknown"
    return f"commit [{sha[:7]}]({ctx.pr_url.rstrip('/')}/commits/{sha})"


def _short_path(path: str) -> str:
    # The end of a path (the file name) says more than its start.
    return path if len(path) <= PATH_CHARS else "…" + path[-(PATH_CHARS - 1) :]


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
