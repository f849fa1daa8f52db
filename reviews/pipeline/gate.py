"""Automatic reviews people turned off from the pull request itself: paused with
`@prism pause`, or opted out with `@prism ignore` in the description (README "Talk to Prism").

Only automatic reviews (GitHub's pull_request deliveries) are gated: a review someone asks
for with a command, or an operator's re-run, always runs.
"""

import logging

from reviews import selectors, services
from reviews.commands import names
from reviews.commands.parse import opted_out
from reviews.github.client import GitHubClient
from reviews.github.resources import PullRequest
from reviews.models import Analysis
from reviews.pipeline import publish, push

logger = logging.getLogger(__name__)


def is_automatic(analysis: Analysis) -> bool:
    return analysis.event == "pull_request" and analysis.rerun_of_id is None


def is_manual(analysis: Analysis) -> bool:
    """A review asked for with `@prism review`, `full review` or `resume`."""
    return analysis.event == Analysis.MANUAL_EVENT


def asked(analysis: Analysis) -> str:
    """How a review asked for with a command reads the pull request: `full` or `incremental`
    (when the ledger allows; a push's on_push=off does not stop a review someone asked for);
    "" for any other review."""
    if not is_manual(analysis):
        return ""
    return push.ASKED_FULL if analysis.action == "full_review" else push.ASKED_INCREMENTAL


def skip_if_turned_off(analysis: Analysis, pr: PullRequest, github: GitHubClient | None) -> bool:
    """Record an automatic review people turned off as skipped; True when it was.

    Paused: the head's status says "Not reviewed: paused by @login" (state `error`, never
    `success`, so a required check does not pass on commits nobody read). Opted out in the
    description: skipped with the reason, and nothing is posted (the author asked for quiet).
    """
    if not is_automatic(analysis):
        return False
    state = selectors.pull_request_state(analysis.repo_full_name, analysis.pr_number)
    if state is not None and state.paused:
        by = f" by @{state.paused_by}" if state.paused_by else ""
        reason = f"Paused{by}"
        if services.analysis_finish(
            analysis_id=analysis.id, status=Analysis.Status.SKIPPED, error=reason
        ):
            logger.info("review skipped, paused analysis_id=%s", analysis.id)
            if github is not None:
                publish.report_not_reviewed(analysis, github, f"Not reviewed: paused{by}")
        return True
    if any(opted_out(pr.body, name) for name in names.accepted()):
        services.analysis_finish(
            analysis_id=analysis.id,
            status=Analysis.Status.SKIPPED,
            error=f"The description says @{names.shown()} ignore: "
            "no automatic reviews of this pull request.",
        )
        logger.info("review skipped, opted out analysis_id=%s", analysis.id)
        return True
    return False
