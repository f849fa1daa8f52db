"""Scenario 19: feedback that is counted.

A pull request is reviewed (two findings, each an inline comment). People react: alice puts 👎
on the first comment, bob 👍 on the second; a bot and Prism itself react too (not counted).
The pull request is closed, and GitHub delivers the `closed` event twice (same delivery id):
no review starts, the reactions are read once, and the 👎 shows in the admin's overview and in
the API's figures. Closed again after a reopen, it is read again: counts replaced, not added.
"""

import re
import secrets
import uuid

import pytest
import requests

from tests.e2e.fake_github import BOT_LOGIN, FakeGitHub
from tests.e2e.helpers import Stack, needle
from tests.e2e.processes import wait_until
from tests.e2e.test_12_reviews_converge import new_files_diff

pytestmark = pytest.mark.e2e

REPO, NUMBER = "e2e-feedback/shop", 1
FLAG = "unchecked("
FILES = {
    "shop/cart.py": [
        "def add(cart, item):",
        '    price = unchecked(item["price"])',
        '    count = unchecked(item["count"])',
        "    return cart.add(price * count)",
    ],
}
USER = "e2e-feedback-admin"


@pytest.fixture(scope="module")
def operator(stack: Stack) -> dict[str, str]:
    """A superuser's admin session and API token."""
    password = secrets.token_urlsafe(16)
    stack.prism.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_superuser({USER!r}, password={password!r})",
    )
    token = stack.prism.manage("create_api_token", USER).strip().splitlines()[-1]
    return {"password": password, "token": token}


def admin_session(stack: Stack, password: str) -> requests.Session:
    session = requests.Session()
    login = f"{stack.prism.url}/admin/login/"
    page = session.get(login, timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    form = {"csrfmiddlewaretoken": csrf[1], "username": USER, "password": password}
    answer = session.post(login, data={**form, "next": "/admin/"}, timeout=10)
    assert answer.status_code == 200 and "Log out" in answer.text, answer.text[:500]
    return session


def overview_row(session: requests.Session, stack: Stack, table: str, key: str) -> list[str]:
    """Raised, dismissed, dismissal rate, 👍, 👎 of one row of the overview's feedback tables."""
    html = session.get(f"{stack.prism.url}/admin/reviews/analysis/overview/", timeout=30).text
    start = html.index(f'id="prism-feedback-by-{table}"')
    body = html[start : html.index("</table>", start)]
    for row in body.split("<tr>")[2:]:
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        if cells and cells[0] == key:
            return cells[1:]
    raise AssertionError(f"no {key!r} row in the feedback table by {table}")


def prism_comments(github: FakeGitHub) -> list[dict]:
    return [c for c in github.review_comments[REPO, NUMBER] if c["user"]["login"] == BOT_LOGIN]


def reads(stack: Stack) -> list[dict]:
    return stack.db.rows(
        "SELECT * FROM reviews_feedbackread WHERE repo_full_name = %s ORDER BY id", REPO
    )


def thumbs(stack: Stack) -> dict[int, tuple[int, int]]:
    rows = stack.db.rows(
        "SELECT review_comment_id, thumbs_up, thumbs_down FROM reviews_finding "
        "WHERE repo_full_name = %s",
        REPO,
    )
    return {r["review_comment_id"]: (r["thumbs_up"], r["thumbs_down"]) for r in rows}


def test_a_thumbs_down_on_an_inline_comment_shows_in_the_overview_after_close(stack, operator):
    github, title = stack.github, needle(REPO, NUMBER)
    stack.llm.plan(title, findings_per_chunk=2, flag=FLAG)
    stack.open_pull(REPO, NUMBER, diff=new_files_diff(FILES))
    [review] = stack.wait_for_reviews(REPO, 1)
    assert review["status"] == "completed", review["error"]
    first, second = sorted(prism_comments(github), key=lambda c: c["line"])
    model = review["llm_model"]
    llm_calls = len(stack.llm.calls_for(title))

    session = admin_session(stack, operator["password"])
    before = {
        "bug": overview_row(session, stack, "category", "bug"),
        "model": overview_row(session, stack, "model", model),
    }

    github.react(first["id"], "-1", login="alice")
    github.react(first["id"], "-1", login="ci-helper[bot]", user_type="Bot")
    github.react(first["id"], "+1", login=BOT_LOGIN)  # Prism itself
    github.react(second["id"], "+1", login="bob")
    github.react(second["id"], "heart", login="carol")

    # Closed; GitHub delivers it twice with the same delivery id.
    delivery = str(uuid.uuid4())
    assert stack.close_pull(REPO, NUMBER, delivery_id=delivery).status_code == 202
    again = stack.close_pull(REPO, NUMBER, delivery_id=delivery)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")

    [read] = wait_until(
        lambda: [r for r in reads(stack) if r["status"] in ("completed", "failed")] or None,
        timeout=60,
        what="the feedback read of the closed pull request",
    )
    assert read["status"] == "completed", read["error"]
    assert (read["comments_read"], read["comments_missing"]) == (2, 0)
    assert thumbs(stack) == {first["id"]: (0, 1), second["id"]: (1, 0)}
    reaction_calls = github.calls("GET", rf"/repos/{REPO}/pulls/comments/\d+/reactions")
    assert len(reaction_calls) == 2  # read once, not once per delivery
    # A closed delivery never starts a review.
    assert len(stack.analyses(REPO)) == 1
    assert len(stack.llm.calls_for(title)) == llm_calls

    # The 👎 shows in the admin's overview (raised, dismissed, rate, 👍, 👎): one more each.
    after_bug = overview_row(session, stack, "category", "bug")
    assert int(after_bug[4]) == int(before["bug"][4]) + 1
    assert int(after_bug[3]) == int(before["bug"][3]) + 1
    after_model = overview_row(session, stack, "model", model)
    assert int(after_model[4]) == int(before["model"][4]) + 1

    # And in the API's figures, with a token.
    api = f"{stack.prism.url}/api/findings/feedback/"
    headers = {"Authorization": f"Token {operator['token']}"}
    assert requests.get(api, params={"repo": REPO}, timeout=10).status_code == 401
    figures = requests.get(api, params={"repo": REPO}, headers=headers, timeout=10).json()
    totals = figures["totals"]
    assert (totals["raised"], totals["thumbs_up"], totals["thumbs_down"], totals["read"]) == (
        2, 1, 1, 2,
    )  # fmt: skip
    [by_model] = figures["by_model"]
    assert (by_model["key"], by_model["thumbs_down"]) == (model, 1)

    # Reopened, more people react, closed again: read again, counts replaced (not 1 + 2).
    github.react(first["id"], "-1", login="dave")
    github.unreact(second["id"], "+1", login="bob")
    assert stack.close_pull(REPO, NUMBER).status_code == 202
    wait_until(
        lambda: len([r for r in reads(stack) if r["status"] == "completed"]) == 2 or None,
        timeout=60,
        what="the second feedback read",
    )
    assert thumbs(stack) == {first["id"]: (0, 2), second["id"]: (0, 0)}
    assert int(overview_row(session, stack, "model", model)[4]) == int(before["model"][4]) + 2
