"""The overview's rows and charts: figures formatted here, geometry computed here, drawn as
inline SVG by the template."""

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from reviews import presentation, selectors
from reviews.admin.common import NONE, SEVERITY_COLORS
from reviews.feedback import figures


def percent(rate: float | None) -> str:
    """ "50%", "4.2%"; a dash when nothing finished."""
    if rate is None:
        return NONE
    text = f"{rate:.1%}"
    return text.replace(".0%", "%")


def day_query(day: Any) -> str:
    return urlencode(
        {"created_at__year": day.year, "created_at__month": day.month, "created_at__day": day.day}
    )


def overview_row(row: dict[str, Any], *, label: str = "", link: str = "") -> dict[str, Any]:
    """One row of the overview, its numbers formatted as the page shows them."""
    rate = row.get("failure_rate")
    return {
        **row,
        "label": label,
        "link": link,
        "reviews_text": f"{row['reviews']:,}",
        "attempts_text": f"{row['attempts']:,}",
        "completed_text": f"{row['completed']:,}",
        "failed_text": f"{row['failed']:,}",
        "other_text": f"{row['other']:,}",
        "rate_text": percent(rate),
        "tokens_text": f"{row['tokens']:,}",
        "cost_text": presentation.money(row["cost"]),
        "findings_text": f"{row['findings_total']:,}",
        "severities": [(name, f"{n:,}") for name, n in row["findings"].items() if n],
    }


def feedback_rows(rows: Any, *, label: Any = str, link: Any = None) -> list[dict[str, Any]]:
    """The feedback table's rows (reviews.feedback.figures.FeedbackRow), formatted."""
    return [
        {
            "label": label(row.key),
            "link": link(row.key) if link else "",
            "dismissed_link": link(row.key, dismissed=True) if link else "",
            "raised_text": f"{row.raised:,}",
            "dismissed_text": f"{row.dismissed:,}",
            "rate_text": percent(row.dismissal_rate),
            "up_text": f"{row.thumbs_up:,}",
            "down_text": f"{row.thumbs_down:,}",
            "read_text": f"{row.read:,}",
        }
        for row in rows
    ]


# --- charts: geometry computed here, drawn as inline SVG by the template --------------------
BAR_WIDTH = 360  # px of the longest bar
ROW_HEIGHT = 22
DAY_WIDTH = 22
DAY_HEIGHT = 120


def bar_rows(
    items: Any, *, colors: dict[str, str] | None = None, link: Any = None
) -> dict[str, Any]:
    """Horizontal bars, one per (label, value), scaled to the largest value."""
    rows = [(str(label), value or 0) for label, value in items]
    top = max((value for _, value in rows), default=0) or 1
    return {
        "height": ROW_HEIGHT * max(len(rows), 1),
        "rows": [
            {
                "label": label,
                "value": value,
                "value_text": f"{value:,}",
                "y": i * ROW_HEIGHT,
                "text_y": i * ROW_HEIGHT + 15,
                "width": round(BAR_WIDTH * value / top) if value else 0,
                "color": (colors or {}).get(label, "#417690"),
                "css": f"prism-fill-{label}" if label in SEVERITY_COLORS else "prism-fill",
                "link": link(label) if link else "",
            }
            for i, (label, value) in enumerate(rows)
        ],
    }


def day_columns(days: list[dict[str, Any]], changelist: str = "") -> dict[str, Any]:
    """Stacked vertical bars per day: completed, failed, other; each links to that day's list."""
    top = max((row["reviews"] for row in days), default=0) or 1
    columns = []
    for i, row in enumerate(days):
        scale = DAY_HEIGHT / top
        completed = round(row["completed"] * scale)
        failed = round(row["failed"] * scale)
        other = round(row["other"] * scale)
        columns.append(
            {
                "day": row["day"],
                "total": row["reviews"],
                "completed": row["completed"],
                "failed": row["failed"],
                "other": row["other"],
                "x": i * DAY_WIDTH,
                "completed_y": DAY_HEIGHT - completed,
                "completed_height": completed,
                "failed_y": DAY_HEIGHT - completed - failed,
                "failed_height": failed,
                "other_y": DAY_HEIGHT - completed - failed - other,
                "other_height": other,
                "link": f"{changelist}?{day_query(row['day'])}",
                # A date under every seventh day and the last, never two crowded together.
                "labelled": i == len(days) - 1 or (i % 7 == 0 and i < len(days) - 3),
            }
        )
    return {
        "width": DAY_WIDTH * len(days),
        "height": DAY_HEIGHT,
        "columns": columns,
        "top": f"{top:,}",
        "total": sum(c["total"] for c in columns),
        "failed": sum(c["failed"] for c in columns),
    }


def overview_context(*, days: int) -> dict[str, Any]:
    """The overview page's figures over the last `days`, each linked to the list it counts."""
    overview = selectors.analysis_overview(days=days)
    changelist = reverse("admin:reviews_analysis_changelist")
    return {
        "overview": overview,
        "totals": overview_row(overview.totals),
        "per_day": day_columns(overview.per_day, changelist),
        "days_table": [
            overview_row(row, link=f"{changelist}?{day_query(row['day'])}")
            for row in reversed(overview.per_day)
            if row["attempts"]
        ],
        "repositories": [
            overview_row(
                row,
                label=row["repo_full_name"],
                link=f"{changelist}?{urlencode({'repo_full_name': row['repo_full_name']})}",
            )
            for row in overview.per_repository
        ],
        "models": [
            overview_row(
                row,
                label=row["model"] or "(none)",
                link=f"{changelist}?{urlencode({'llm_model': row['model']})}",
            )
            for row in overview.per_model
        ],
        "categories": bar_rows(overview.by_category.items()),
        "severities": bar_rows(
            overview.by_severity.items(),
            link=lambda s: f"{changelist}?{urlencode({'min_severity': s})}",
        ),
        "changelist_url": changelist,
        **_feedback_context(days),
    }


def _feedback_context(days: int) -> dict[str, Any]:
    """The overview's feedback tables: which kinds of finding people reject."""
    feedback = figures.finding_feedback(days=days)
    findings = reverse("admin:reviews_finding_changelist")

    def linker(parameter: str) -> Any:
        def link(key: str, dismissed: bool = False) -> str:
            query = {parameter: key, **({"state__exact": "dismissed"} if dismissed else {})}
            return f"{findings}?{urlencode(query)}"

        return link

    return {
        "feedback": feedback,
        "feedback_totals": feedback_rows([feedback.totals])[0],
        "feedback_tables": [
            (
                "category",
                "By category",
                feedback_rows(feedback.by_category, link=linker("category__exact")),
            ),
            (
                "severity",
                "By severity",
                feedback_rows(feedback.by_severity, link=linker("severity__exact")),
            ),
            (
                "model",
                "By model",
                feedback_rows(
                    feedback.by_model, label=lambda key: key or "(none)", link=linker("model")
                ),
            ),
        ],
        "feedback_reads_url": reverse("admin:reviews_feedbackread_changelist"),
    }
