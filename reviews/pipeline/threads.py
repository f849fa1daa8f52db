"""Prism resolves its own review threads once their finding is gone.

`threads_to_resolve` is the decision, pure; `resolve_outdated_threads` reads the threads,
decides and resolves. Neither touches the database: the caller passes each finding's state
(by fingerprint) and the fingerprints this review raised, so the ledger stays the caller's.
Never a human's thread: only one Prism opened, carries a finding marker, and nobody answered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from reviews.github.client import GitHubClient, GitHubError
from reviews.github.resources import ReviewThread

logger = logging.getLogger(__name__)

FIXED = "fixed"
# The marker reviews/pipeline/publish.py appends to each inline comment. Only the one that
# ends the body counts: the text above it comes from the model and could quote a marker.
FINDING_MARKER = re.compile(r"<!-- prism:finding:([0-9a-f]{16}) -->\s*\Z")


@dataclass(frozen=True)
class ThreadsOutcome:
    resolved: int = 0
    skipped: int = 0  # Prism's open finding threads it chose to leave open
    error: str = ""  # the GitHub failure that stopped it, if any
    # Fingerprint -> node id of Prism's thread for it, for the ledger (read on the way).
    thread_ids: Mapping[str, str] = field(default_factory=dict)


def thread_fingerprint(thread: ReviewThread, prism_login: str) -> str | None:
    """The finding a thread is about, when Prism opened it with a finding marker."""
    if not prism_login or not thread.comments:
        return None
    first = thread.comments[0]
    if first.author != prism_login:
        return None
    match = FINDING_MARKER.search(first.body)
    return match.group(1) if match else None


def prism_threads(threads: Iterable[ReviewThread], prism_login: str) -> dict[str, str]:
    """Fingerprint -> node ID of the thread Prism opened for it (the ledger's thread_node_id).

    Should a finding have several threads, the last one listed (the newest) wins.
    """
    found: dict[str, str] = {}
    for thread in threads:
        fingerprint = thread_fingerprint(thread, prism_login)
        if fingerprint is not None:
            found[fingerprint] = thread.id
    return found


def threads_to_resolve(
    threads: Iterable[ReviewThread],
    *,
    prism_login: str,
    states: Mapping[str, str],
    raised_now: Collection[str],
    review_completed: bool,
) -> list[str]:
    """The IDs of the threads to resolve: each one passes every rule below."""
    if not review_completed:  # a failed or partial review proves nothing went away
        return []
    chosen = []
    for thread in threads:
        fingerprint = thread_fingerprint(thread, prism_login)
        if (
            fingerprint is not None  # Prism opened it, for a finding
            and not thread.is_resolved
            and (thread.is_outdated or states.get(fingerprint) == FIXED)
            and fingerprint not in raised_now  # this review still sees the finding
            # Nobody answered: a reply (or one not fetched) leaves the thread to people.
            and not thread.more_comments
            and all(comment.author == prism_login for comment in thread.comments)
        ):
            chosen.append(thread.id)
    return chosen


def resolve_outdated_threads(
    github: GitHubClient,
    repo: str,
    number: int,
    *,
    prism_login: str,
    states: Mapping[str, str],
    raised_now: Collection[str],
    review_completed: bool,
) -> ThreadsOutcome:
    """Resolve Prism's threads whose finding is gone; never raise a GitHub failure.

    A failure is logged and returned in `error` with what was resolved before it; the
    threads left open are resolved on the next push's review.
    """
    if not review_completed:
        return ThreadsOutcome()
    resolved = skipped = 0
    thread_ids: dict[str, str] = {}
    try:
        threads = github.review_threads(repo, number)
        thread_ids = prism_threads(threads, prism_login)
        ids = threads_to_resolve(
            threads,
            prism_login=prism_login,
            states=states,
            raised_now=raised_now,
            review_completed=review_completed,
        )
        ours = [t for t in threads if not t.is_resolved and thread_fingerprint(t, prism_login)]
        skipped = len(ours) - len(ids)
        for thread_id in ids:
            github.resolve_review_thread(thread_id)
            resolved += 1
    except GitHubError as exc:
        logger.warning(
            "resolving review threads failed repo=%s pr=%s resolved=%d: %s",
            repo,
            number,
            resolved,
            exc,
        )
        return ThreadsOutcome(
            resolved=resolved, skipped=skipped, error=str(exc) or repr(exc), thread_ids=thread_ids
        )
    return ThreadsOutcome(resolved=resolved, skipped=skipped, thread_ids=thread_ids)
