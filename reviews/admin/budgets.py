"""The Budgets page: each money cap and what its current UTC day or month has spent against
it, with marks at 50, 75, 90 and 100% (reviews/budgets.py keeps the arithmetic)."""

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from reviews import budgets
from reviews.pricing import dollars

BAR_WIDTH = 300  # px of a full budget


def budget_rows() -> list[dict[str, Any]]:
    """One row per cap, its figures formatted and its bar's geometry computed."""
    now = budgets.clock()
    changelist = reverse("admin:reviews_analysis_changelist")
    rows = []
    for standing in budgets.standings(now):
        cap = standing.cap
        start, _ = cap.window(now)
        query = {"created_at__gte": start.date().isoformat()}
        if cap.repo:
            query["repo_full_name"] = cap.repo
        shown = min(standing.percent, 100)
        rows.append(
            {
                "owner": cap.owner,
                "period": cap.period,
                "limit": dollars(cap.limit),
                "spent": dollars(standing.spent),
                "percent": f"{standing.percent}%",
                "mark": standing.mark,
                "state": "over" if standing.percent >= 100 else "near" if standing.mark else "ok",
                "resets": cap.resets(now),
                "width": round(BAR_WIDTH * shown / 100),
                "marks": [round(BAR_WIDTH * m / 100) for m in budgets.MARKS],
                "link": f"{changelist}?{urlencode(query)}",
            }
        )
    return rows
