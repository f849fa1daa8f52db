"""Scenario 12: reviews converge on a pull request pushed to, answered and force-pushed.

The model flags every added line that calls `unchecked(` (five of them, in four new files).
A push that fixes two of them is reviewed incrementally: the model reads only the two files
the new commit touched, Prism resolves its two threads and its comment says how things stand.
A thread someone answered stays open even once its finding is fixed. A force-push is
reviewed in full, and the comment says why.
"""

import re
from typing import Any

import pytest

from reviews.comments.sanitize import MARKER
from reviews.diffs.incremental import REWRITTEN
from tests.e2e.fake_github import BOT_LOGIN, FakeGitHub
from tests.e2e.helpers import needle, sha

pytestmark = pytest.mark.e2e

REPO, NUMBER = "e2e-converge/shop", 1
FLAG = "unchecked("
FILES = {
    "shop/orders.py": [
        "def total(order):",
        '    amount = unchecked(order["amount"])',
        '    shipping = unchecked(order["shipping"])',
        "    return amount + shipping",
    ],
    "shop/payments.py": [
        "def charge(payment):",
        '    card = unchecked(payment["card"])',
        "    return gateway.charge(card)",
    ],
    "shop/refunds.py": [
        "def refund(request):",
        '    reason = unchecked(request["reason"])',
        "    return ledger.refund(reason)",
    ],
    "shop/invoices.py": [
        "def invoice(customer):",
        '    address = unchecked(customer["address"])',
        "    return render(address)",
    ],
}
FIXED = {  # the lines of two findings, rewritten without the flagged call
    "shop/payments.py": '    card = validated_card(payment["card"])',
    "shop/refunds.py": '    reason = validated_reason(request["reason"])',
}
MARKER_RE = re.compile(r"<!-- prism:finding:([0-9a-f]{16}) -->")


def new_files_diff(files: dict[str, list[str]]) -> str:
    """The pull request's diff against its base: every file is new."""
    sections = []
    for path, lines in files.items():
        sections.append(
            f"diff --git a/{path} b/{path}\n"
            "new file mode 100644\n"
            "index 0000000..1111111\n"
            "--- /dev/null\n"
            f"+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)
        )
    return "".join(sections)


def with_line(files: dict[str, list[str]], path: str, text: str) -> dict[str, list[str]]:
    """`files` with the flagged line of `path` replaced by `text`."""
    changed = {p: list(lines) for p, lines in files.items()}
    index = next(i for i, line in enumerate(changed[path]) if FLAG in line)
    changed[path][index] = text
    return changed


def prism_review_comments(github: FakeGitHub) -> list[dict[str, Any]]:
    return [c for c in github.review_comments[REPO, NUMBER] if c["user"]["login"] == BOT_LOGIN]


def assert_each_finding_posted_once(github: FakeGitHub) -> None:
    markers = [m for c in prism_review_comments(github) for m in MARKER_RE.findall(c["body"])]
    assert len(markers) == len(set(markers)) == 5, markers


def test_a_pull_request_pushed_answered_and_force_pushed_converges(stack):
    github, title = stack.github, needle(REPO, NUMBER)
    stack.llm.plan(title, findings_per_chunk=5, flag=FLAG)

    # 1. Opened: five findings, each posted inline once.
    first = stack.open_pull(REPO, NUMBER, diff=new_files_diff(FILES))
    [opened] = stack.wait_for_reviews(REPO, 1)
    assert opened["status"] == "completed", opened["error"]
    findings = opened["feedback"]["findings"]
    assert len(findings) == 5 and all(f["anchored"] for f in findings)
    assert len(prism_review_comments(github)) == 5
    calls_before = len(stack.llm.calls_for(title))

    # 2. A push that rewrites the lines of two findings and leaves three alone.
    fixed_files = FILES
    for path, text in FIXED.items():
        fixed_files = with_line(fixed_files, path, text)
    second = sha(f"{REPO} fix two")
    assert (
        stack.push(REPO, NUMBER, diff=new_files_diff(fixed_files), head=second).status_code == 202
    )
    rows = stack.wait_for_reviews(REPO, 2)
    pushed = rows[1]
    assert pushed["status"] == "completed", pushed["error"]
    scope = pushed["feedback"]["coverage"]["scope"]
    assert (scope["mode"], scope["commits"]) == ("incremental", 1), scope
    # The model read only the hunks the new commit touched.
    new_calls = stack.llm.calls_for(title)[calls_before:]
    assert new_calls
    read = {path for call in new_calls for path in re.findall(r"(?m)^FILE (\S+) ", call.prompt())}
    assert read == set(FIXED), read
    # Prism's two threads on the fixed lines are resolved, and only those.
    threads = {
        c["path"]: f"PRRT_{c['id']}" for c in prism_review_comments(github) if c["path"] in FIXED
    }
    assert github.resolved_threads == set(threads.values())
    [comment] = github.issue_comments(REPO, NUMBER)
    assert comment["body"].startswith(MARKER)
    assert "3 open" in comment["body"], comment["body"]
    assert f"2 fixed since {first[:7]}" in comment["body"]
    assert_each_finding_posted_once(github)

    # 3. Someone answers in the thread of an open finding, then a push fixes that finding.
    answered = next(c for c in prism_review_comments(github) if c["path"] == "shop/invoices.py")
    github.reply_to_review_comment(
        REPO, NUMBER, answered["id"], "This is validated upstream, see #12.", login="alice"
    )
    third_files = with_line(fixed_files, "shop/invoices.py", "    address = customer.address")
    third = sha(f"{REPO} fix the answered one")
    assert stack.push(REPO, NUMBER, diff=new_files_diff(third_files), head=third).status_code == 202
    rows = stack.wait_for_reviews(REPO, 3)
    assert rows[2]["status"] == "completed", rows[2]["error"]
    assert rows[2]["feedback"]["coverage"]["scope"]["mode"] == "incremental"
    [state] = stack.db.rows(
        "SELECT state FROM reviews_finding WHERE repo_full_name = %s AND path = %s",
        REPO,
        "shop/invoices.py",
    )
    assert state["state"] == "fixed"
    assert f"PRRT_{answered['id']}" not in github.resolved_threads
    assert len(github.resolved_threads) == 2
    [comment] = github.issue_comments(REPO, NUMBER)
    assert "2 open" in comment["body"] and f"1 fixed since {second[:7]}" in comment["body"]

    # 4. A force-push: the new head does not descend from the reviewed one.
    fourth = sha(f"{REPO} rebased")
    rebased = {**third_files, "shop/orders.py": [*FILES["shop/orders.py"], "# rebased"]}
    response = stack.force_push(REPO, NUMBER, diff=new_files_diff(rebased), head=fourth)
    assert response.status_code == 202
    rows = stack.wait_for_reviews(REPO, 4)
    forced = rows[3]
    assert forced["status"] == "completed", forced["error"]
    scope = forced["feedback"]["coverage"]["scope"]
    assert (scope["mode"], scope["reason"]) == ("full", REWRITTEN), scope
    [comment] = github.issue_comments(REPO, NUMBER)
    assert "Full review: history was rewritten" in comment["body"], comment["body"]
    assert fourth in comment["body"]
    # The full review read every file again and raised the same two findings: not reposted.
    assert {f["path"] for f in forced["feedback"]["findings"]} == {"shop/orders.py"}
    assert f"PRRT_{answered['id']}" not in github.resolved_threads
    assert_each_finding_posted_once(github)
    assert len(github.comment_posts(REPO, NUMBER)) == 1
    assert github.statuses(REPO, fourth)[-1] in {"success", "failure"}
