"""Scenario 17: check runs and budgets in money, on a Prism in GitHub App mode.

A Prism of its own (gunicorn, a Celery worker and beat, its own PostgreSQL database and
Redis) in App mode, with prices per model, against the App stand-in of scenario 16 (JWTs,
installation tokens), which also keeps check runs as GitHub does: at most 50 annotations a
request, appended by each update. A repository with a $0.01 daily budget gets a skipped
review, a neutral check and no model call; a review with 120 findings annotates them in three
requests; the check run's "Re-run review" button queues a new analysis, once per delivery.
"""

import contextlib
import html
import json
import os
import shutil
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import redis

from tests.e2e.conftest import (
    admin_database_url,
    new_secrets,
    prism_env,
    shared_redis_url,
    unavailable,
)
from tests.e2e.fake_github_app import FakeGitHubApp
from tests.e2e.fake_llm import FakeLLM
from tests.e2e.helpers import Stack, needle, pull_request_event, sha
from tests.e2e.processes import Database, Prism, RedisProxy, RedisServer, wait_until
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
    admin_url = admin_database_url()
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except psycopg.Error as exc:
        unavailable(f"no PostgreSQL at {admin_url.split('@')[-1]}: {type(exc).__name__}")
    log_dir = tmp_path_factory.mktemp("e2e-checks")
    pem, public_key = app_private_key
    key_file = log_dir / "app.pem"
    key_file.write_text(pem)
    key_file.chmod(0o600)
    if shutil.which("redis-server"):
        redis_server: RedisServer | RedisProxy = RedisServer(log_dir)
        cache_url = redis_server.url.rsplit("/", 1)[0] + "/1"
    else:
        redis_server = RedisProxy(shared_redis_url(), db=11)
        if not redis_server.available():
            unavailable(f"no redis-server binary and no Redis at {redis_server.upstream}")
        cache_url = redis_server.url.rsplit("/", 1)[0] + "/12"
    keys = new_secrets()
    db = Database(admin_url, f"prism_e2e_checks_{os.getpid()}")
    github = FakeGitHubApp(app_id=APP_ID, slug=SLUG, public_key=public_key)
    llm = FakeLLM(keys.llm_key)
    env = prism_env(keys, github, llm, database_url=db.url, broker_url=redis_server.url)
    env.update(
        GITHUB_APP_ID=str(APP_ID),
        GITHUB_APP_PRIVATE_KEY_FILE=str(key_file),
        GITHUB_TOKEN="",
        CACHE_URL=cache_url,
        LLM_PRICES=json.dumps(PRICES),
        PRISM_PUBLIC_URL=PUBLIC,
    )
    prism = Prism(env, log_dir)
    with contextlib.ExitStack() as cleanup:
        db.create()
        cleanup.callback(db.drop)
        redis_server.start()
        cleanup.callback(redis_server.stop)
        redis.Redis.from_url(cache_url).flushdb()
        github.start()
        cleanup.callback(github.stop)
        llm.start()
        cleanup.callback(llm.stop)
        cleanup.callback(prism.stop)
        prism.start()
        stack = Stack(github, llm, prism, db, redis_server, keys, log_dir, [])
        install(stack)
        github.install(INITECH, "initech", CAPPED, BUSY)
        yield stack


def install(stack: Stack) -> None:
    """The real `installation.created` delivery: the App on initech's two repositories."""
    data = payload("installation.created.json")
    data["installation"].update(id=INITECH, app_id=APP_ID)
    data["installation"]["account"].update(login="initech", type="Organization")
    data["repositories"] = [
        {"id": REPO_IDS[name], "full_name": name, "name": name.split("/")[1]}
        for name in (CAPPED, BUSY)
    ]
    response = stack.deliver(compact(data), event="installation")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "applied"


def compact(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def opened(repo: str, head: str) -> bytes:
    """The real `pull_request.opened` payload for pull request #1 of `repo`, as the App's
    installation receives it (with the repository's id, which the allow-list checks)."""
    data = json.loads(pull_request_event("opened", repo, 1, head, needle(repo, 1)))
    data["installation"] = {"id": INITECH, "node_id": f"MDIz{INITECH}"}
    data["repository"]["id"] = REPO_IDS[repo]
    return compact(data)


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
