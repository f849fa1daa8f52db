"""The one failure path: a review that cannot finish, in a worker or in `review_pr --sync`.

The row records why (so the admin and the API show it), and the pull request is told it
was not reviewed, never left with a pending status that reads as "still working".
"""

import logging

from reviews import clients, services
from reviews.errors import ServiceError
from reviews.models import Analysis
from reviews.pipeline import publish
from reviews.results import Usage

logger = logging.getLogger(__name__)


def describe(exc: BaseException) -> tuple[str, str]:
    """What to store of an exception: the error text, and the model's raw answer if any."""
    if isinstance(exc, ServiceError):
        return str(exc), getattr(exc, "raw_output", "")
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted before the review finished; re-run it.", ""
    return f"Internal error: {type(exc).__name__}: {exc}", ""


def fail_review(analysis_id: int, cause: str | BaseException) -> None:
    """Record the failure on the row, then report it on the pull request (best effort).

    Never raises: it runs inside exception handlers, where a second error would hide the
    first and leave the review running, to be retried and billed again.
    """
    error, raw_output = (cause, "") if isinstance(cause, str) else describe(cause)
    usage = getattr(cause, "usage", None)
    logger.warning("review failed analysis_id=%s: %s", analysis_id, error)
    try:
        failed = services.analysis_fail(
            analysis_id=analysis_id,
            error=error,
            raw_output=raw_output,
            usage=usage if isinstance(usage, Usage) else None,
        )
    except Exception:
        logger.exception("could not record the failure analysis_id=%s", analysis_id)
        return
    if failed:
        report_failure(analysis_id)


def report_failure(analysis_id: int) -> None:
    """Tell the pull request a review failed, unless it was never to be posted."""
    try:
        analysis = Analysis.objects.get(id=analysis_id)
        if not analysis.publish:
            return
        github = clients.github_client_for(analysis.repo_full_name, analysis.installation_id)
        publish.report_failure(analysis_id, github)
    except ServiceError as exc:  # reporting is best effort; the row already holds the failure
        logger.warning("could not report failure analysis_id=%s: %s", analysis_id, exc)
    except Exception:
        logger.warning("could not report failure analysis_id=%s", analysis_id, exc_info=True)
