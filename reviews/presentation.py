"""How the admin words an analysis: one format for money and durations everywhere, the reason
for a status, what was covered, and how posting went, part by part.

Plain text only: the templates escape it (everything here may quote a pull request, the
model or GitHub).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from reviews.models import Analysis
from reviews.results import ChunkModel, Coverage, Usage, skip_reason

NONE = "\N{EN DASH}"
Status = Analysis.Status


def money(cost: Decimal | float | None) -> str:
    """Dollars to four places with thousands separators: "$0.3281", "$1,204.0000"."""
    return NONE if cost is None else f"${cost:,.4f}"


def tokens(count: int) -> str:
    return f"{count:,}" if count else NONE


def human_duration(duration: timedelta | float | None) -> str:
    """ "0.9 s", "12 s", "3 min 05 s", "1 h 02 min": the one format for a duration."""
    if duration is None:
        return NONE
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def short_reason(analysis: Analysis, limit: int = 60) -> str:
    """Why a review failed, was skipped or superseded (or why it waits), in a few words."""
    error = " ".join(analysis.error.split())
    if not error:
        return ""
    return error if len(error) <= limit else error[: limit - 1].rstrip() + "\N{HORIZONTAL ELLIPSIS}"


def not_reviewed(analysis: Analysis) -> tuple[str, str] | None:
    """(what happened, what to do) for a review that has no findings to show because it did
    not run to the end; None for a completed review."""
    status = analysis.status
    if status == Status.COMPLETED:
        return None
    if status == Status.FAILED:
        return (
            "This pull request was not reviewed: the review failed.",
            "Fix the cause shown below (the model or GitHub answering badly, a missing "
            "token), then re-run the review.",
        )
    if status == Status.QUEUED:
        if analysis.error:
            return (
                "Not reviewed yet: the last attempt stopped and a retry is queued.",
                "Nothing to do unless it keeps failing; then re-run it after fixing the cause.",
            )
        return ("Not reviewed yet: the review is queued.", "Wait for a worker to pick it up.")
    if status == Status.RUNNING:
        return ("Not reviewed yet: the review is running.", "Reload this page in a minute.")
    if status == Status.SUPERSEDED:
        return (
            "Not reviewed: a newer commit of the pull request replaced this one.",
            "Read the newer review of the pull request.",
        )
    return (
        "Not reviewed: Prism skipped this delivery.",
        "Nothing to do; re-run it if the pull request should be reviewed at this commit.",
    )


def coverage_line(coverage: Coverage) -> str:
    """ "48 of 52 files, 2,310 changed lines; skipped 4: 2 lockfiles, 2 generated files" """
    text = (
        f"{coverage.files_reviewed:,} of {coverage.files_total:,} files, "
        f"{coverage.lines_reviewed:,} of {coverage.lines_total:,} changed lines"
    )
    if coverage.skipped:
        counts: dict[str, int] = {}
        for item in coverage.skipped:
            counts[skip_reason(item.reason).code] = counts.get(skip_reason(item.reason).code, 0) + 1
        parts = [skip_reason(code).phrase(n) for code, n in counts.items()]
        text += f"; skipped {len(coverage.skipped):,}: {', '.join(parts)}"
    return text


@dataclass(frozen=True)
class Part:
    name: str  # "comment", "inline comments", "commit status"
    ok: bool | None  # None: not attempted (off, or nothing to post)
    detail: str


POSTED_PARTS = (
    ("summary comment", "comment"),
    ("inline comments", "inline comments"),
    ("review threads", "review threads"),
    ("commit status", "commit status"),
)


def models_line(chunks: tuple[ChunkModel, ...]) -> str:
    """Which model answered how many chunks, when fallback models answered some ("" when the
    one model asked answered them all): "a (2 chunks), b (1 chunk, fallback)"."""
    if not any(chunk.fallback or chunk.model != chunks[0].model for chunk in chunks):
        return ""
    counts: dict[tuple[str, bool], int] = {}
    for chunk in sorted(chunks, key=lambda chunk: chunk.fallback):
        key = (chunk.model or "unknown", chunk.fallback)
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(
        f"{model} ({count:,} chunk{'' if count == 1 else 's'}{', fallback' if fallback else ''})"
        for (model, fallback), count in counts.items()
    )


def usage_by_model(usage: Usage) -> list[tuple[str, str, str, int]]:
    """(model, tokens, cost, calls) per model, when the calls went to more than one."""
    return [
        (part.model, tokens(part.tokens), money(part.cost), part.calls) for part in usage.by_model
    ]


def posting(analysis: Analysis) -> list[Part]:
    """Each part of posting a review, with its outcome: which part failed, never a bare
    "posted" beside a failure."""
    if not analysis.publish:
        return [Part("posting", None, "not posted: reviewed with --no-post")]
    if analysis.status != Status.COMPLETED:
        return [Part("posting", None, "nothing to post: the review did not complete")]
    errors: dict[str, str] = {}
    other: list[str] = []
    for piece in filter(None, (p.strip() for p in analysis.comment_error.split("; "))):
        what, _, detail = piece.partition(": ")
        if what in dict(POSTED_PARTS):
            errors[what] = detail
        else:
            other.append(piece)
    if not analysis.comment_url and not analysis.comment_error:
        return [Part("posting", None, "not posted yet")]
    parts = []
    for key, name in POSTED_PARTS:
        if key in errors:
            parts.append(Part(name, False, errors[key]))
        elif key == "summary comment":
            if analysis.comment_url:
                parts.append(Part(name, True, "posted"))
            else:
                parts.append(Part(name, None, " ".join(other) or "not posted"))
        elif (
            key in ("inline comments", "review threads") and not settings.POST_INLINE_COMMENTS
        ) or (key == "commit status" and not settings.POST_COMMIT_STATUS):
            continue
        elif analysis.comment_url:
            parts.append(Part(name, True, "posted" if key != "review threads" else "tidied"))
    return parts


def posting_problems(queryset: QuerySet[Analysis]) -> QuerySet[Analysis]:
    """Completed reviews some part of which failed to post (not one left unposted on purpose
    because a newer review is shown)."""
    return (
        queryset.filter(status=Status.COMPLETED, publish=True)
        .exclude(comment_error="")
        .exclude(comment_error__startswith="Not posted:")
    )


def age(moment: datetime, now: datetime | None = None) -> str:
    """ "45 s", "12 min", "5 h", "3 d", then the date."""
    seconds = max(0, int(((now or timezone.now()) - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    if seconds < 30 * 86400:
        return f"{seconds // 86400} d"
    return f"{timezone.localtime(moment):%Y-%m-%d}"
