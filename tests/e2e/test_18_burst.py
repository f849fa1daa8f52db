"""Scenario 18: a burst of 100 deliveries at once (a dependency bot across an organisation)
against a slow model, with the worker under GitHub's own secondary limits (80 writes a
minute, 500 an hour per token: the suite's other scenarios relax them).

Every pull request is reviewed once and shown once: one comment, at most one inline review,
one final status; redelivered and duplicated deliveries add nothing; and the stand-in GitHub,
counting every content-creating request as it arrives, never sees more than 80 in any
60-second window. Posting that meets the limit waits (reviews/pipeline/deferred.py), so the
burst takes minutes to be fully shown, as it would on GitHub.
"""

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import RELAXED_PACING
from tests.e2e.helpers import needle, pull_request_event, sha
from tests.e2e.processes import wait_until
from tests.fixtures import diff_text

pytestmark = pytest.mark.e2e

PULLS = 50  # 50 opened + 25 redelivered + 25 duplicated under new delivery ids = 100
DIFFS = ["01-plain-modification", "02-new-file", "05-rename-with-change", "12-multiple-hunks"]
LATENCY = 5.0  # seconds per model call
GITHUB_PER_MINUTE = 80


@pytest.fixture
def paced_stack(stack):
    """The stack's worker restarted under the default pacing, with a slow model."""
    saved = {name: stack.prism.env.pop(name) for name in RELAXED_PACING}
    stack.llm.latency = LATENCY
    stack.prism.restart_worker()
    try:
        yield stack
    finally:
        stack.llm.latency = 0.0
        stack.prism.env.update(saved)
        stack.prism.restart_worker()


def test_a_burst_of_a_hundred_deliveries_is_reviewed_once_each_within_githubs_limits(
    paced_stack,
):
    stack = paced_stack
    repos = [f"e2e-burst/pr{n:02d}" for n in range(PULLS)]
    deliveries = []
    for index, repo in enumerate(repos):
        head, title = sha(f"{repo}@1"), needle(repo, 1)
        stack.github.open_pull(
            repo, 1, head_sha=head, diff=diff_text(DIFFS[index % len(DIFFS)]), title=title
        )
        body, delivery_id = pull_request_event("opened", repo, 1, head, title), str(uuid.uuid4())
        deliveries.append((body, delivery_id))
        if index % 2:
            deliveries.append((body, delivery_id))  # GitHub's redelivery: the same id
        else:
            deliveries.append((body, str(uuid.uuid4())))  # the same head, another id
    assert len(deliveries) == 100
    started = time.monotonic()

    with ThreadPoolExecutor(50) as pool:
        codes = Counter(
            pool.map(lambda d: stack.deliver(d[0], delivery_id=d[1]).status_code, deliveries)
        )
    assert codes == {202: PULLS, 200: PULLS}

    def all_shown() -> bool:
        rows = stack.db.rows(
            "SELECT count(*) AS n FROM reviews_analysis WHERE repo_full_name LIKE 'e2e-burst/%%' "
            "AND status = 'completed' AND comment_posted_at IS NOT NULL "
            "AND publish_due_at IS NULL AND comment_error = ''"
        )
        return rows[0]["n"] == PULLS

    # About 150 writes at 80 a minute, and deferred posting spread over a further minute.
    wait_until(all_shown, timeout=420, what="every review of the burst to be posted")

    for repo in repos:
        rows = stack.analyses(repo)
        assert Counter(r["status"] for r in rows) in (
            Counter(completed=1),
            Counter(completed=1, skipped=1),  # the duplicate under another delivery id
        ), [(r["status"], r["error"]) for r in rows]
        [done] = [r for r in rows if r["status"] == "completed"]
        assert done["attempts"] == 1
        assert len([p for p in stack.github.comment_posts(repo, 1) if p.status == 201]) == 1
        assert len(stack.github.issue_comments(repo, 1)) == 1
        reviews = stack.github.calls("POST", rf"/repos/{repo}/pulls/1/reviews")
        assert len([r for r in reviews if r.status == 200]) <= 1
        finals = [s for s in stack.github.statuses(repo) if s != "pending"]
        assert finals == ["success"], repo

    windows = stack.github.max_writes_in_window(60.0, since=started)
    assert windows and max(windows.values()) <= GITHUB_PER_MINUTE, windows
    # The limit was what set the pace: the burst wanted more than a minute's writes at once.
    writes = sum(
        1 for r in stack.github.requests if r.at >= started and r.creates_content and r.status < 300
    )
    assert writes > GITHUB_PER_MINUTE
