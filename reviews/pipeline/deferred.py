"""Posting a completed review later, when GitHub's rate limit leaves no room now.

A review is stored as completed before anything is posted. If posting meets GitHub's limit
for the token (its writes are paced, or GitHub answered a secondary limit with a long
retry-after: reviews/github/pacing.py), the review is not failed and no worker thread
sleeps through the wait: the row records when posting is due (`publish_due_at`, shown as
`comment_error` meanwhile) and a publish task is queued with that countdown. The sweep
re-queues one whose message was lost. Posting again is safe: the summary comment is edited
in place, and an inline comment already on the pull request is never posted twice (the
ledger and the markers, reviews/pipeline/publish.py).
"""

import logging
import random

from reviews import clients, dispatch, services
from reviews.github.client import GitHubClient, RateLimited
from reviews.models import Analysis
from reviews.pipeline import publish

logger = logging.getLogger(__name__)

# Writes free up as a full window ages out; spreading the deferred reviews over the next
# minute keeps them from all asking for the same freed slots at once.
SPREAD_SECONDS = 60.0


def publish_or_defer(analysis_id: int, github: GitHubClient, *, resume: bool = False) -> bool:
    """Post a completed review now, or schedule it for when GitHub's limit allows.

    True when everything was posted (see `publish.publish_review`); False when posting was
    deferred, or a part failed to post (`comment_error` says which).
    """
    try:
        posted = publish.publish_review(analysis_id, github, resume=resume)
    except RateLimited as exc:
        defer(analysis_id, exc)
        return False
    services.analysis_publish_done(analysis_id=analysis_id)
    return posted


def defer(analysis_id: int, exc: RateLimited) -> None:
    countdown = (exc.retry_after or 0.0) + random.uniform(0, SPREAD_SECONDS)
    services.analysis_defer_publish(analysis_id=analysis_id, retry_in=countdown, reason=str(exc))
    logger.info(
        "posting deferred by GitHub's rate limit analysis_id=%s in %.0fs", analysis_id, countdown
    )
    dispatch.dispatch_publish(analysis_id, countdown=countdown)


def publish_due(analysis_id: int, github: GitHubClient | None = None) -> None:
    """The publish task: one posting attempt of a review whose posting is due."""
    if not services.analysis_claim_publish(analysis_id=analysis_id):
        logger.info("posting not due or already under way analysis_id=%s", analysis_id)
        return
    try:
        if github is None:
            analysis = Analysis.objects.get(id=analysis_id)
            github = clients.github_client_for(analysis.repo_full_name, analysis.installation_id)
        publish_or_defer(analysis_id, github, resume=True)
    except Exception as exc:
        # Not a rate limit (publish_or_defer handles those): record it like any posting
        # failure, which repost_comment retries, instead of trying forever.
        services.analysis_publish_done(analysis_id=analysis_id)
        services.analysis_record_comment(
            analysis_id=analysis_id, comment=None, error=f"Not posted: {exc}"
        )
        raise
