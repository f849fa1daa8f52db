"""The worker's read of a closed pull request: the 👍 and 👎 people left on each of Prism's
inline comments, stored on the finding the comment carries.

Counts are replaced, never added: a pull request closed, reopened and closed again is read
again, and a read retried after a failure reads every comment again. A comment that is gone
(deleted, 404) or that GitHub refuses for good is listed on the read's row and the others are
read all the same; a transient failure (GitHub down, a rate limit) stops the read for the task
to retry, keeping what it stored so far.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from reviews import clients
from reviews.feedback import records
from reviews.github.client import GitHubError
from reviews.github.resources import Reaction
from reviews.models import FeedbackRead, Finding

logger = logging.getLogger(__name__)

THUMBS_UP = "+1"
THUMBS_DOWN = "-1"
BOT = "Bot"
# The read's row keeps this much of the list of comments it could not read.
MAX_PROBLEMS_TEXT = 2000


@dataclass(frozen=True)
class Counts:
    thumbs_up: int
    thumbs_down: int


def count(reactions: Iterable[Reaction], *, prism_login: str) -> Counts:
    """People's 👍 and 👎: bots' reactions and Prism's own are not feedback.

    A GitHub App acts as a user of type "Bot" (its login ends in "[bot]"); a token acts as
    the login Prism knows itself by.
    """
    people = [
        r
        for r in reactions
        if r.user_type != BOT
        and not r.user.lower().endswith("[bot]")
        and (not r.user or r.user.lower() != prism_login.lower())
    ]
    return Counts(
        thumbs_up=sum(1 for r in people if r.content == THUMBS_UP),
        thumbs_down=sum(1 for r in people if r.content == THUMBS_DOWN),
    )


def read(read_id: int) -> None:
    """Read the reactions on every inline comment Prism posted on the pull request.

    Raises a transient `GitHubError` for the task to retry; a permanent one for a single
    comment is recorded on the row and the read goes on.
    """
    row = FeedbackRead.objects.get(id=read_id)
    findings = list(
        Finding.objects.filter(
            repo_full_name=row.repo_full_name,
            pr_number=row.pr_number,
            review_comment_id__isnull=False,
        )
        .order_by("id")
        .values_list("id", "review_comment_id")
    )
    if not findings:  # nothing was posted inline: no call to GitHub at all
        records.feedback_finish(read_id=read_id, read=0, missing=0)
        return
    github = clients.github_client_for(row.repo_full_name)
    prism_login = github.authenticated_login()
    done, problems = 0, []
    for finding_id, comment_id in findings:
        if comment_id is None:  # filtered out above; for the type checker
            continue
        try:
            counts = count(
                github.list_review_comment_reactions(row.repo_full_name, comment_id),
                prism_login=prism_login,
            )
        except GitHubError as exc:
            if not exc.permanent:
                raise
            gone = "deleted" if exc.status == 404 else "not read"
            problems.append(f"comment {comment_id} (finding #{finding_id}) {gone}: {exc}")
            logger.info(
                "feedback comment not read feedback_read_id=%s comment_id=%s status=%s",
                read_id,
                comment_id,
                exc.status,
            )
            continue
        records.finding_record_reactions(
            finding_id=finding_id, thumbs_up=counts.thumbs_up, thumbs_down=counts.thumbs_down
        )
        done += 1
    records.feedback_finish(
        read_id=read_id,
        read=done,
        missing=len(problems),
        error="; ".join(problems)[:MAX_PROBLEMS_TEXT],
    )
    logger.info(
        "feedback read feedback_read_id=%s repo=%s pr=%s comments=%s not_read=%s",
        read_id,
        row.repo_full_name,
        row.pr_number,
        done,
        len(problems),
    )
