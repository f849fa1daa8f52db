"""Scenario 14: people talk to Prism on the pull request, against the real processes.

A collaborator's `@prism review` runs once although GitHub delivers it twice (and a replay
comes under a new delivery id); a stranger's is refused with a reason and no model call; the
author's `@prism pause` makes the next push "Not reviewed" (an error status, never success)
and `@prism resume` reviews the head; `@prism dismiss` in a finding's thread dismisses it,
resolves the thread, and a full review does not raise it again; `@prism ask` in a finding's
thread gets the model's answer in the thread, sanitised.
"""

import re
from typing import Any

import pytest

from tests.e2e.fake_github import BOT_LOGIN, FakeGitHub
from tests.e2e.fake_llm import QUESTION
from tests.e2e.helpers import needle, sha

pytestmark = pytest.mark.e2e

REPO, NUMBER = "e2e-talk/app", 1
AUTHOR = REPO.split("/")[0]  # the fake's pull requests are opened by their repository's owner
FLAG = "unchecked("
FILES = {
    "app/orders.py": ["def total(order):", '    return unchecked(order["amount"])'],
    "app/refunds.py": ["def refund(request):", '    return unchecked(request["reason"])'],
}
HOSTILE_ANSWER = (
    "It is reachable from the refunds API. @everyone should look: "
    "![x](https://evil.example/p.png) and [details](https://evil.example/x)."
)
MARKER_RE = re.compile(r"<!-- prism:finding:([0-9a-f]{16}) -->")


def new_files_diff(files: dict[str, list[str]]) -> str:
    return "".join(
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n"
        + "".join(f"+{line}\n" for line in lines)
        for path, lines in files.items()
    )


def prism_root(github: FakeGitHub, path: str) -> dict[str, Any]:
    """Prism's inline comment (a thread's first comment) on `path`."""
    return next(
        c
        for c in github.review_comments[REPO, NUMBER]
        if c["user"]["login"] == BOT_LOGIN and c["path"] == path and not c.get("in_reply_to_id")
    )


def status_descriptions(github: FakeGitHub, head: str) -> list[tuple[str, str]]:
    calls = github.calls("POST", rf"/repos/{re.escape(REPO)}/statuses/{head}")
    return [(c.json()["state"], c.json()["description"]) for c in calls]


def test_commands_on_a_pull_request(stack):
    github, llm, title = stack.github, stack.llm, needle(REPO, NUMBER)
    llm.plan(title, findings_per_chunk=5, flag=FLAG, answer=HOSTILE_ANSWER)

    # 0. Opened and reviewed: two findings, each with its thread; the summary shows their ids.
    first = stack.open_pull(REPO, NUMBER, diff=new_files_diff(FILES))
    [opened] = stack.wait_for_reviews(REPO, 1)
    assert opened["status"] == "completed", opened["error"]
    assert len(opened["feedback"]["findings"]) == 2
    [summary] = github.issue_comments(REPO, NUMBER)
    assert "| ID | Line | Severity | Issue |" in summary["body"], summary["body"]

    # 1. A collaborator's review, delivered twice and replayed under a new delivery id.
    response, comment_id = stack.comment(
        REPO, NUMBER, "@prism review", login="carol", association="COLLABORATOR",
        delivery_id="talk-review-1",
    )  # fmt: skip
    assert response.status_code == 202, response.text
    for delivery in ("talk-review-1", "talk-review-2"):
        again, _ = stack.comment(
            REPO, NUMBER, "@prism review", login="carol", association="COLLABORATOR",
            comment_id=comment_id, delivery_id=delivery,
        )  # fmt: skip
        assert again.status_code == 200 and again.json()["status"] == "duplicate", again.text
    [command] = stack.wait_for_commands(REPO, 1)
    assert command["status"] == "done", command["error"] or command["outcome"]
    rows = stack.wait_for_reviews(REPO, 2)
    manual = [row for row in rows if row["event"] == "command"]
    assert len(manual) == 1 and manual[0]["status"] == "completed", manual
    assert (manual[0]["action"], manual[0]["head_sha"]) == ("review", first)
    assert command["analysis_id"] == manual[0]["id"]
    assert github.added_reactions[REPO, "issues", comment_id] == ["eyes", "rocket"]

    # 2. A stranger's review: refused with the reason, and the model is not asked.
    calls_before = len(llm.calls_for(title))
    response, stranger_comment = stack.comment(
        REPO, NUMBER, "@prism review", login="mallory", association="NONE"
    )
    assert response.status_code == 202
    refused = stack.wait_for_commands(REPO, 2)[-1]
    assert refused["status"] == "refused"
    assert github.added_reactions[REPO, "issues", stranger_comment] == ["eyes", "confused"]
    assert github.calls("GET", rf"/repos/{re.escape(REPO)}/collaborators/mallory/permission")
    said = [c["body"] for c in github.issue_comments(REPO, NUMBER) if "was not run" in c["body"]]
    assert said == ["`@prism review` was not run: `review` is for people with write access."]
    assert len(stack.analyses(REPO)) == 2
    assert len(llm.calls_for(title)) == calls_before

    # 3. The author pauses; the next push is recorded skipped and its status says so.
    response, _ = stack.comment(REPO, NUMBER, "@prism pause", login=AUTHOR, association="NONE")
    assert response.status_code == 202
    assert stack.wait_for_commands(REPO, 3)[-1]["status"] == "done"
    second = sha(f"{REPO} second")
    more = {**FILES, "app/notes.py": ["NOTE = 'paused'"]}
    assert stack.push(REPO, NUMBER, diff=new_files_diff(more), head=second).status_code == 202
    pushed = stack.wait_for_reviews(REPO, 3)[-1]
    assert (pushed["status"], pushed["error"]) == ("skipped", f"Paused by @{AUTHOR}")
    assert status_descriptions(github, second) == [("error", f"Not reviewed: paused by @{AUTHOR}")]
    assert len(llm.calls_for(title)) == calls_before

    # 4. Resume reviews the head.
    response, _ = stack.comment(REPO, NUMBER, "@prism resume", login=AUTHOR, association="NONE")
    assert response.status_code == 202
    assert stack.wait_for_commands(REPO, 4)[-1]["status"] == "done"
    resumed = stack.wait_for_reviews(REPO, 4)[-1]
    assert (resumed["event"], resumed["action"], resumed["head_sha"]) == (
        "command",
        "resume",
        second,
    )
    assert resumed["status"] == "completed", resumed["error"]
    assert github.statuses(REPO, second)[-1] in {"success", "failure"}

    # 5. Dismissed in its thread: the finding is dismissed, its thread resolved, and a full
    # review reading everything again does not raise it.
    root = prism_root(github, "app/orders.py")
    response, reply_id = stack.reply_in_thread(
        REPO, NUMBER, root["id"], "@prism dismiss the amount is validated upstream",
        login="carol", association="COLLABORATOR",
    )  # fmt: skip
    assert response.status_code == 202, response.text
    dismissed = stack.wait_for_commands(REPO, 5)[-1]
    assert dismissed["status"] == "done", dismissed["error"] or dismissed["outcome"]
    [finding] = stack.db.rows(
        "SELECT * FROM reviews_finding WHERE repo_full_name = %s AND path = %s",
        REPO,
        "app/orders.py",
    )
    assert (finding["state"], finding["dismissed_by"]) == ("dismissed", "carol")
    assert finding["dismiss_reason"] == "the amount is validated upstream"
    assert f"PRRT_{root['id']}" in github.resolved_threads
    assert github.added_reactions[REPO, "pulls", reply_id] == ["eyes", "rocket"]
    # The summary comment is posted again without it.
    [summary] = [c for c in github.issue_comments(REPO, NUMBER) if "prism:review" in c["body"]]
    assert "1 dismissed" in summary["body"], summary["body"]
    assert "`app/orders.py`" not in summary["body"] and "`app/refunds.py`" in summary["body"]

    response, _ = stack.comment(
        REPO, NUMBER, "@prism full review", login="carol", association="COLLABORATOR"
    )
    assert response.status_code == 202
    assert stack.wait_for_commands(REPO, 6)[-1]["status"] == "done"
    full = stack.wait_for_reviews(REPO, 5)[-1]
    assert (full["action"], full["status"]) == ("full_review", "completed"), full["error"]
    assert full["feedback"]["coverage"]["scope"]["mode"] == "full"
    assert {f["path"] for f in full["feedback"]["findings"]} == {"app/refunds.py"}
    [again] = stack.db.rows("SELECT state FROM reviews_finding WHERE id = %s", finding["id"])
    assert again["state"] == "dismissed"
    markers = [
        m
        for c in github.review_comments[REPO, NUMBER]
        if c["user"]["login"] == BOT_LOGIN
        for m in MARKER_RE.findall(c["body"])
    ]
    assert len(markers) == len(set(markers)) == 2  # nothing posted twice, nothing raised again

    # 6. A question in the other finding's thread: answered there, sanitised.
    other = prism_root(github, "app/refunds.py")
    response, _ = stack.reply_in_thread(
        REPO, NUMBER, other["id"], "@prism ask is this reachable from outside?",
        login="carol", association="COLLABORATOR",
    )  # fmt: skip
    assert response.status_code == 202
    asked = stack.wait_for_commands(REPO, 7)[-1]
    assert asked["status"] == "done", asked["error"] or asked["outcome"]
    questions = [c for c in llm.calls_for(title) if QUESTION in c.prompt()]
    assert len(questions) == 1
    assert "is this reachable from outside?" in questions[0].prompt()
    [answer] = [
        c
        for c in github.review_comments[REPO, NUMBER]
        if c["user"]["login"] == BOT_LOGIN and c.get("in_reply_to_id") == other["id"]
    ]
    body = answer["body"]
    assert body.startswith("It is reachable from the refunds API.")
    assert "@everyone" not in body  # no ping
    assert "evil.example" not in body  # no image, no link off GitHub
    assert answer["body"] == asked["reply"]
