"""Scenario 17: check runs and budgets in money, on a Prism in GitHub App mode.

A Prism of its own (gunicorn, a Celery worker and beat, its own PostgreSQL database and
Redis) in App mode, with prices per model, against the App stand-in of scenario 16 (JWTs,
installation tokens), which also keeps check runs as GitHub does: at most 50 annotations a
request, appended by each update. A repository with a $0.01 daily budget gets a skipped
review, a neutral check and no model call; a review with 120 findings annotates them in three
requests; the check run's "Re-run review" button queues a new analysis, once per delivery.
"""

import html
import json
from decimal import Decimal

import pytest

from tests.e2e.app_mode import app_mode_stack, compact, for_installation, install
from tests.e2e.helpers import Stack, needle, pull_request_event, sha
from tests.e2e.processes import wait_until
from tests.fixtures import payload

pytestmark = pytest.mark.e2e

APP_ID, SLUG = 31338, "prism-checks"
INITECH = 303
CAPPED, BUSY = "initech/capped", "initech/busy"
# GitHub's repository ids, as install() numbers them.
REPO_IDS = {CAPPED: INITECH * 1000 + 1, BUSY: INITECH * 1000 + 2}
PUBLIC = "https://prism.example.com"
# Dollars per million tokens for the model Prism asks for (LLM_MODEL's default).
PRICES = {"openai/gpt-4o-mini": {"input": 3, "output": 15}}


@pytest.fixture(scope="module")
def checks_stack(tmp_path_factory: pytest.TempPathFactory, app_private_key):
    """Prism in App mode with prices, the App installed on initech's two repositories."""
    with app_mode_stack(
        tmp_path_factory.mktemp("e2e-checks"),
        app_private_key,
        name="checks",
        app_id=APP_ID,
        slug=SLUG,
        proxy_dbs=(11, 12),
        settings={"LLM_PRICES": json.dumps(PRICES), "PRISM_PUBLIC_URL": PUBLIC},
    ) as stack:
        install(stack, APP_ID, INITECH, "initech", REPO_IDS)
        yield stack


def opened(repo: str, head: str) -> bytes:
    """The real `pull_request.opened` payload for pull request #1 of `repo`, as the App's
    installation receives it (with the repository's id, which the allow-list checks)."""
    body = pull_request_event("opened", repo, 1, head, needle(repo, 1))
    return for_installation(body, INITECH, REPO_IDS[repo])


def open_pull(stack: Stack, repo: str, diff: str) -> str:
    head = sha(f"{repo}#1 checks")
    stack.github.open_pull(repo, 1, head_sha=head, diff=diff, title=needle(repo, 1))
    response = stack.deliver(opened(repo, head))
    assert response.status_code == 202, response.text
    return head


def many_lines_diff(count: int) -> str:
    """A new file of `count` distinct lines: the fake model flags each one."""
    lines = "".join(f"+value_{n} = compute({n})\n" for n in range(1, count + 1))
    return (
        "diff --git a/src/many.py b/src/many.py\n"
        "new file mode 100644\n"
        "index 0000000..1111111\n"
        "--- /dev/null\n"
        "+++ b/src/many.py\n"
        f"@@ -0,0 +1,{count} @@\n{lines}"
    )


SMALL_DIFF = many_lines_diff(3)


def test_a_repository_over_its_daily_budget_is_not_reviewed(checks_stack):
    updated = checks_stack.db.rows(
        "UPDATE reviews_repository SET daily_budget = %s WHERE full_name = %s RETURNING id",
        Decimal("0.01"),
        CAPPED,
    )
    assert len(updated) == 1

    head = open_pull(checks_stack, CAPPED, SMALL_DIFF)
    [row] = checks_stack.wait_for_reviews(CAPPED, 1)

    title = "Not reviewed: initech/capped reached its $0.01 daily budget (resets 00:00 UTC)"
    assert row["status"] == "skipped"
    assert row["error"].startswith(f"{title}. Spent $0.00 this day of $0.01")
    assert row["cost_estimate"] > Decimal("0.01") and row["cost"] is None
    assert checks_stack.llm.calls_for(needle(CAPPED, 1)) == [], "no model call"
    # The row is skipped first; the check and the comment follow it.
    wait_until(
        lambda: (
            checks_stack.github.issue_comments(CAPPED, 1)
            and [r for r in checks_stack.github.runs(CAPPED, head) if r["conclusion"]]
        ),
        timeout=30,
        what="the neutral check and the comment",
    )
    [run] = checks_stack.github.runs(CAPPED, head)
    assert (run["status"], run["conclusion"]) == ("completed", "neutral")
    assert run["output"]["title"] == title
    assert run["external_id"] == str(row["id"])
    assert run["details_url"] == f"{PUBLIC}/admin/reviews/analysis/{row['id']}/change/"
    [comment] = checks_stack.github.issue_comments(CAPPED, 1)
    assert title in html.unescape(comment["body"])
    assert "has not been reviewed" in comment["body"]
    # App mode's default: the check run, not the commit status.
    assert checks_stack.github.statuses(CAPPED) == []


def test_120_findings_are_annotated_in_three_requests(checks_stack):
    checks_stack.llm.plan(needle(BUSY, 1), findings_per_chunk=500)

    head = open_pull(checks_stack, BUSY, many_lines_diff(120))
    [row] = checks_stack.wait_for_reviews(BUSY, 1, timeout=120)

    assert row["status"] == "completed", row["error"]
    assert len(row["feedback"]["findings"]) == 120
    [run] = checks_stack.github.runs(BUSY, head)
    assert (run["status"], run["conclusion"]) == ("completed", "success")
    assert run["output"]["title"] == "120 findings (120 high) · reviewed 1 of 1 files"
    lines = sorted(note["start_line"] for note in run["annotations"])
    assert lines == list(range(1, 121))
    assert {note["annotation_level"] for note in run["annotations"]} == {"failure"}
    patches = checks_stack.github.calls("PATCH", rf"/repos/{BUSY}/check-runs/{run['id']}")
    counts = [len(p.json()["output"]["annotations"]) for p in patches]
    assert counts == [50, 50, 20]
    assert [a["identifier"] for a in run["actions"]] == ["rerun"]
    # The actual cost from the provider's usage (no cost reported: priced by LLM_PRICES).
    calls = len(checks_stack.llm.calls_for(needle(BUSY, 1)))
    per_call = (Decimal(1000) * 3 + Decimal(50) * 15) / 1_000_000
    assert row["cost"] == per_call * calls


def test_the_rerun_button_queues_a_new_analysis_once(checks_stack):
    [first] = [r for r in checks_stack.analyses(BUSY) if r["rerun_of_id"] is None]
    [run] = checks_stack.github.runs(BUSY, first["head_sha"])
    data = payload("check_run.requested_action.json")
    data["check_run"].update(id=run["id"], external_id=run["external_id"], head_sha=run["head_sha"])
    data["requested_action"] = {"identifier": "rerun"}
    data["repository"].update(full_name=BUSY, name="busy", id=REPO_IDS[BUSY])
    data["installation"] = {"id": INITECH, "node_id": f"MDIz{INITECH}"}
    body = compact(data)

    response = checks_stack.deliver(body, event="check_run", delivery_id="rerun-busy-1")
    again = checks_stack.deliver(body, event="check_run", delivery_id="rerun-busy-1")

    assert response.status_code == 202, response.text
    rerun_id = response.json()["analysis_id"]
    assert again.json() == {"status": "duplicate", "analysis_id": rerun_id}
    rows = checks_stack.wait_for_reviews(BUSY, 2, timeout=120)
    [rerun] = [r for r in rows if r["id"] == rerun_id]
    assert rerun["rerun_of_id"] == first["id"] and rerun["installation_id"] == INITECH
    assert rerun["status"] == "completed", rerun["error"]
    wait_until(
        lambda: len(checks_stack.github.runs(BUSY, first["head_sha"])) == 2,
        timeout=30,
        what="the re-run's own check run",
    )
    newest = checks_stack.github.runs(BUSY, first["head_sha"])[-1]
    assert newest["external_id"] == str(rerun_id) and newest["conclusion"] == "success"
    # Someone else's button on a run, and a run Prism never made, queue nothing.
    data["requested_action"] = {"identifier": "lgtm"}
    assert checks_stack.deliver(compact(data), event="check_run").json()["status"] == "ignored"
    data["requested_action"] = {"identifier": "rerun"}
    data["check_run"]["id"] = 1
    assert checks_stack.deliver(compact(data), event="check_run").json()["status"] == "ignored"
    assert len(checks_stack.analyses(BUSY)) == 2
