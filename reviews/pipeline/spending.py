"""Budgets in a review: the gate before its first model call, and what a refused review
leaves on the row and the pull request (the arithmetic is in reviews/budgets.py)."""

import logging
from collections.abc import Callable

from reviews import budgets, services
from reviews.github.client import GitHubClient
from reviews.models import Analysis
from reviews.pipeline import publish

logger = logging.getLogger(__name__)


def gate(analysis: Analysis, model: str) -> Callable[[int, int], None]:
    """`before_model` for `review.review_files`: raises OverBudget when the chunk plan's
    calls to `model` may not be made."""

    def admit(prompt_tokens: int, calls: int) -> None:
        refusal = budgets.admit(
            analysis_id=analysis.id,
            repo=analysis.repo_full_name,
            model=model,
            prompt_tokens=prompt_tokens,
            calls=calls,
        )
        if refusal is not None:
            raise budgets.OverBudget(refusal)

    return admit


def skip_over_budget(
    analysis: Analysis, github: GitHubClient | None, refusal: budgets.Refusal
) -> None:
    """No model call: the analysis is skipped with the reason, and the pull request says so
    (its comment, a neutral check, an `error` status), never as a clean review."""
    logger.info("review over budget analysis_id=%s: %s", analysis.id, refusal.title)
    if not services.analysis_finish(
        analysis_id=analysis.id, status=Analysis.Status.SKIPPED, error=refusal.error
    ):
        return
    if github is not None:
        publish.report_not_reviewed(
            analysis, github, refusal.title, summary=refusal.detail, comment=True
        )
