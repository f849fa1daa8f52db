"""What the check run shows (its conclusion, title, summary and annotations) and the comment
that says a head was not reviewed. Pure: no Django imports.

The summary is markdown, so what came from the model goes through the sanitiser; annotations
are plain text on GitHub, and are only kept inside its limits.
"""

from collections import Counter
from collections.abc import Collection, Sequence

from reviews.comments.sanitize import MARKER, sanitize_block, sanitize_inline
from reviews.redaction import redact
from reviews.results import SEVERITY_RANK, Coverage, Finding

# Severities at or above which an annotation fails; medium warns; low is a notice.
ANNOTATION_LEVELS = {"critical": "failure", "high": "failure", "medium": "warning", "low": "notice"}
ANNOTATION_TITLE_CHARS = 255
ANNOTATION_TEXT_CHARS = 60_000  # GitHub's limit is 64 KB of message or raw details
SUMMARY_CHARS = 6_000
# Skips that leave lines a complete review should have read (the model's budget of calls, an
# unusable answer, a file GitHub sent no diff of): such a review is not a success.
INCOMPLETE = frozenset({"over_call_budget", "model_error", "no_patch"})
CATEGORY_LABELS = {"bug": "Bug", "security": "Security", "performance": "Performance",
                   "style": "Style"}  # fmt: skip


def conclusion(findings: Sequence[Finding], coverage: Coverage, threshold: str) -> str:
    """`failure` for a finding at or above `threshold` ("never": none fails); `success` for a
    complete review below it; `neutral` when some of what it should have read was not."""
    if threshold != "never" and any(f.at_least(threshold) for f in findings):
        return "failure"
    if any(item.reason in INCOMPLETE for item in coverage.skipped):
        return "neutral"
    return "success"


def title(findings: Sequence[Finding], coverage: Coverage) -> str:
    """ "3 findings (1 high) · reviewed 48 of 52 files" """
    count = len(findings)
    head = "No findings" if not count else f"{count:,} finding{'s' if count != 1 else ''}"
    severe = Counter(f.severity for f in findings if f.at_least("high"))
    if severe:
        head += " (" + ", ".join(f"{severe[s]:,} {s}" for s in ("critical", "high") if severe[s])
        head += ")"
    return f"{head} · reviewed {coverage.files_reviewed:,} of {coverage.files_total:,} files"


def summary(
    *,
    headline: str,
    model_summary: str,
    comment_url: str = "",
    hosts: Collection[str] = (),
) -> str:
    """The check's summary: where things stand, what the model said, and where the review is."""
    parts = [
        f"**{headline}**" if headline else "",
        sanitize_block(model_summary, hosts=hosts, limit=SUMMARY_CHARS),
        f"The whole review is in [Prism's comment]({comment_url})." if comment_url else "",
    ]
    return "\n\n".join(part for part in parts if part)


def reason(text: str, hosts: Collection[str] = ()) -> str:
    """Why a head was not reviewed, as the check's summary: an error may quote a request,
    so its first line only, with no credential and nothing that renders as markup."""
    lines = text.strip().splitlines()
    first = redact(lines[0])[0] if lines else ""
    return sanitize_inline(first, hosts=hosts, limit=1_000) or "Not reviewed."


def annotation(finding: Finding) -> dict[str, object]:
    """One annotation on a finding's lines, in the shape GitHub's `output.annotations` takes."""
    label = f"{finding.severity.capitalize()} · {CATEGORY_LABELS.get(finding.category, 'Bug')}"
    note: dict[str, object] = {
        "path": finding.path,
        "start_line": finding.line,
        "end_line": finding.end_line or finding.line,
        "annotation_level": ANNOTATION_LEVELS.get(finding.severity, "warning"),
        "title": _plain(f"{label}: {finding.title}", ANNOTATION_TITLE_CHARS),
        "message": _plain(finding.body or finding.title, ANNOTATION_TEXT_CHARS, lines=True)
        or "(no text)",
    }
    if finding.suggestion:
        note["raw_details"] = _plain(
            "Suggested code:\n" + finding.suggestion, ANNOTATION_TEXT_CHARS, lines=True
        )
    return note


def most_severe_first(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], f.path, f.line))


def render_not_reviewed(
    *, title: str, detail: str, analysis_id: int, hosts: Collection[str] = ()
) -> str:
    """The sticky comment for a head Prism decided not to review (a budget reached): says so
    plainly, never mistakable for a clean review."""
    return (
        "\n\n".join(
            [
                MARKER,
                f"### {sanitize_inline(title, hosts=hosts, limit=300)}",
                "**This commit has not been reviewed**; no model was asked, so this is not a "
                "clean result.",
                sanitize_inline(detail, hosts=hosts, limit=1_000),
                f"<sub>Prism analysis {analysis_id}</sub>",
            ]
        )
        + "\n"
    )


def _plain(text: str, limit: int, *, lines: bool = False) -> str:
    """Plain text GitHub stores: no NUL, one line unless `lines`, at most `limit` characters."""
    text = text.replace("\x00", "")
    if not lines:
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
