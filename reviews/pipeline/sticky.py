"""Prism's one summary comment on a pull request: created once, edited in place by every
review, newest review winning, whatever races.

Publishing to one pull request's comment is serialised by a lease on its StickyComment row,
held by one publishing attempt at a time, and no transaction is open while GitHub is called.
"""

import logging
import random
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from reviews.comments import render
from reviews.github.client import GitHubClient, GitHubError
from reviews.github.resources import Comment
from reviews.models import Analysis, StickyComment

logger = logging.getLogger(__name__)


def write(analysis: Analysis, github: GitHubClient, body: str) -> Comment | None:
    """Create or edit Prism's one comment on the pull request, newest review winning.

    Publishing to one pull request's comment is serialised by a lease on its StickyComment
    row, so two reviews cannot both decide to create a comment. No transaction is open while
    GitHub is called: claiming, renewing, recording and releasing the lease are each one
    short UPDATE, so a slow GitHub never holds up the webhook's writes (on SQLite a reader's
    open transaction would block every writer).
    """
    repo, number = analysis.repo_full_name, analysis.pr_number
    row, _ = StickyComment.objects.get_or_create(repo_full_name=repo, pr_number=number)
    lease = _StickyLease(row.pk, analysis.id)
    sticky = lease.acquire()
    if sticky is None:
        logger.info("a newer review is already shown analysis_id=%s", analysis.id)
        return None
    try:
        # Decided under the lease: nobody can record a newer review until it is released.
        if sticky.analysis_id and sticky.analysis_id > analysis.id:
            logger.info("a newer review is already shown analysis_id=%s", analysis.id)
            return None
        comment = None
        if sticky.comment_id:
            lease.renew()
            comment = _edit(github, repo, sticky.comment_id, body)
        if comment is None:
            lease.renew()
            existing = _find_marked_comment(github, repo, number)
            lease.renew()
            comment = (
                _edit(github, repo, existing.id, body)
                if existing
                else github.create_issue_comment(repo, number, body)
            )
        if comment is None:  # the marked comment vanished between listing and editing
            lease.renew()
            comment = github.create_issue_comment(repo, number, body)
        lease.record(comment, analysis)
        return comment
    finally:
        lease.release()


class StickyBusy(Exception):
    """The pull request's comment could not be published to under a lease; nothing was lost.

    Recorded as the review's `comment_error` (like a GitHub failure), so the operator can
    re-post it with `manage.py repost_comment`.
    """


# A waiting publisher polls the lease at these intervals (doubling, with jitter).
_POLL_FIRST_SECONDS = 0.05
_POLL_MAX_SECONDS = 1.0
# Indirection so tests can drive the waiting without real time passing.
_sleep = time.sleep
_monotonic = time.monotonic


class _StickyLease:
    """The right to publish to one StickyComment, held by one publishing attempt.

    Claimed with a conditional UPDATE (free, or expired: its holder died), renewed before
    every GitHub call, checked when the result is recorded, released in `finally`. Every
    statement commits on its own; none spans a network call.
    """

    def __init__(self, sticky_id: int, analysis_id: int) -> None:
        self.sticky_id = sticky_id
        self.analysis_id = analysis_id
        self.owner = f"{analysis_id}:{uuid.uuid4().hex[:16]}"

    def acquire(self) -> StickyComment | None:
        """Claim the lease, waiting a bounded time for a live holder to let go.

        Returns the row as read under the lease, or None (without the lease) once a newer
        review than ours is shown: waiting longer could not change that. Raises StickyBusy
        when the holder keeps the lease past PUBLISH_WAIT_SECONDS.
        """
        deadline = _monotonic() + settings.PUBLISH_WAIT_SECONDS
        delay = _POLL_FIRST_SECONDS
        while True:
            if self._claim():
                return StickyComment.objects.get(pk=self.sticky_id)
            holder = (
                StickyComment.objects.filter(pk=self.sticky_id)
                .values("analysis_id", "lease_owner")
                .get()
            )
            if holder["analysis_id"] and holder["analysis_id"] > self.analysis_id:
                return None
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise StickyBusy(
                    f"another review of this pull request (lease {holder['lease_owner']!r}) "
                    f"was still posting after {settings.PUBLISH_WAIT_SECONDS} s; "
                    "not posted, re-post this review if it is the newest"
                )
            _sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
            delay = min(_POLL_MAX_SECONDS, delay * 2)

    def _claim(self) -> bool:
        now = timezone.now()
        free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        claimed = StickyComment.objects.filter(free, pk=self.sticky_id).update(
            lease_owner=self.owner, lease_expires_at=self._expiry(now)
        )
        return claimed == 1

    def renew(self) -> None:
        """Extend the lease before a GitHub call; StickyBusy if it was taken over meanwhile."""
        if not self._mine().update(lease_expires_at=self._expiry(timezone.now())):
            raise self._lost()

    def record(self, comment: Comment, analysis: Analysis) -> None:
        now = timezone.now()
        recorded = self._mine().update(
            comment_id=comment.id,
            comment_url=comment.html_url,
            analysis=analysis,
            updated_at=now,
        )
        if not recorded:
            # Our comment is on GitHub, but someone else now owns the record: theirs stands.
            raise self._lost()

    def release(self) -> None:
        self._mine().update(lease_owner="", lease_expires_at=None)

    def _mine(self) -> QuerySet[StickyComment]:
        return StickyComment.objects.filter(pk=self.sticky_id, lease_owner=self.owner)

    def _lost(self) -> StickyBusy:
        logger.warning(
            "publishing lease lost analysis_id=%s sticky_id=%s", self.analysis_id, self.sticky_id
        )
        return StickyBusy(
            f"held the pull request's comment longer than {settings.PUBLISH_LEASE_SECONDS} s "
            "and another review took it over; re-post this review if it is the newest"
        )

    @staticmethod
    def _expiry(now: datetime) -> datetime:
        return now + timedelta(seconds=settings.PUBLISH_LEASE_SECONDS)


def _edit(github: GitHubClient, repo: str, comment_id: int, body: str) -> Comment | None:
    """Edit a comment; None when someone deleted it, so a new one is created instead."""
    try:
        return github.update_issue_comment(repo, comment_id, body)
    except GitHubError as exc:
        if exc.status == 404:
            return None
        raise


def _find_marked_comment(github: GitHubClient, repo: str, number: int) -> Comment | None:
    """Prism's comment from before it was recorded here (a new database, a lost row).

    Only one Prism wrote itself: anyone can post a comment that starts with the marker, and
    adopting theirs would put Prism's review in a comment its author can rewrite.
    """
    me = github.authenticated_login()
    for comment in github.list_issue_comments(repo, number):
        if comment.author == me and comment.body.startswith(render.MARKER):
            return comment
    return None
