"""Scenario 16: Prism as a GitHub App, for two organisations at once.

A second Prism (gunicorn, a Celery worker and beat, its own PostgreSQL database and Redis
databases) runs in App mode beside the session's personal-token one, against a GitHub
stand-in that checks the App's JWT with its public key, issues installation tokens, and
accepts each token only for its own organisation's repositories. The installations arrive as
signed `installation` deliveries. Two organisations' pull requests are reviewed at the same
time, each with its own token; a token that dies mid-review is replaced and the review
finishes; a repository removed from the App has its next delivery ignored with the reason;
`sync_installations` heals a missed delivery. A collaborator's `@prism review` acts with its
delivery's installation, and so does the review it queues; a command sent for an
installation that does not grant the repository is ignored with the reason.
"""

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.app_mode import app_mode_stack, compact, for_installation, install
from tests.e2e.fake_github_app import FakeGitHubApp
from tests.e2e.helpers import Stack, diff_or_fixture, needle, pull_request_event, sha
from tests.e2e.processes import wait_until
from tests.fixtures import payload

pytestmark = pytest.mark.e2e

APP_ID, SLUG = 31337, "prism-e2e"
ACME, GLOBEX = 101, 202  # installation ids
ACME_REPOS = ("acme/api", "acme/tools", "acme/late")
GLOBEX_REPOS = ("globex/web", "globex/site")


@pytest.fixture(scope="module")
def app_stack(tmp_path_factory: pytest.TempPathFactory, app_private_key):
    """Prism in GitHub App mode, with the App installed on acme and globex."""
    with app_mode_stack(
        tmp_path_factory.mktemp("e2e-github-app"),
        app_private_key,
        name="app",
        app_id=APP_ID,
        slug=SLUG,
        proxy_dbs=(14, 15),
        settings={
            "AUTO_ENABLE_NEW_REPOS": "true",
            # The commit status is off by default in App mode (the check run says the same);
            # this scenario reads the statuses.
            "POST_COMMIT_STATUS": "true",
        },
    ) as stack:
        install(stack, APP_ID, ACME, "acme", ids(ACME_REPOS[:2]))
        install(stack, APP_ID, GLOBEX, "globex", ids(GLOBEX_REPOS))
        yield stack


def ids(repos: tuple[str, ...]) -> dict[str, int]:
    return {name: repository_id(name) for name in repos}


def open_pull(stack: Stack, repo: str, installation_id: int, diff: str) -> tuple[str, Any]:
    """A pull request at the stand-in, and its `opened` delivery sent for the installation."""
    head = sha(f"{repo}#1 app")
    stack.github.open_pull(
        repo, 1, head_sha=head, diff=diff_or_fixture(diff), title=needle(repo, 1)
    )
    return head, stack.deliver(opened(repo, installation_id, head))


def opened(repo: str, installation_id: int, head: str) -> bytes:
    """The real `pull_request.opened` payload for the stand-in's pull request #1 of `repo`,
    as the App's installation receives it."""
    body = pull_request_event("opened", repo, 1, head, needle(repo, 1))
    return for_installation(body, installation_id, repository_id(repo))


def repository_id(repo: str) -> int:
    """The repository's GitHub id, as the installation deliveries and the stand-in give it."""
    installation, repos = (ACME, ACME_REPOS) if repo.startswith("acme/") else (GLOBEX, GLOBEX_REPOS)
    return installation * 1000 + repos.index(repo) + 1


def requests_to(stack: Stack, repo: str) -> list[Any]:
    with stack.github.lock:
        return [r for r in stack.github.requests if r.path.startswith(f"/repos/{repo}/")]


def refusals(sent: list[Any]) -> list[tuple[str, int]]:
    """Calls GitHub refused; a 404 for a repository without a policy file is no refusal."""
    return [
        (r.path, r.status)
        for r in sent
        if r.status >= 400 and not (r.status == 404 and "/contents/" in r.path)
    ]


def assert_no_credential_in_logs(stack: Stack, pem: str) -> None:
    github = stack.github
    assert isinstance(github, FakeGitHubApp)
    tokens = [token for _, token in github.issued]
    key_body = pem.splitlines()[1]
    for log in Path(stack.log_dir).glob("*.log"):
        text = log.read_text(errors="replace")
        assert key_body not in text, log.name
        assert not [t for t in tokens if t in text], log.name


def test_two_organisations_are_reviewed_at_once_each_with_its_own_token(app_stack, app_private_key):
    github = app_stack.github
    # Each review sits in the model for two seconds: both are in flight together.
    for repo in ("acme/api", "globex/web"):
        app_stack.llm.plan(needle(repo, 1), hold=2.0)

    acme_head, acme = open_pull(app_stack, "acme/api", ACME, "01-plain-modification")
    globex_head, globex = open_pull(app_stack, "globex/web", GLOBEX, "12-multiple-hunks")

    assert (acme.status_code, globex.status_code) == (202, 202), (acme.text, globex.text)
    [acme_row] = app_stack.wait_for_reviews("acme/api", 1)
    [globex_row] = app_stack.wait_for_reviews("globex/web", 1)
    assert (acme_row["status"], globex_row["status"]) == ("completed", "completed")
    assert (acme_row["installation_id"], globex_row["installation_id"]) == (ACME, GLOBEX)
    # At the same time: each review's model call started before the other's ended.
    [acme_call] = app_stack.llm.calls_for(needle("acme/api", 1))
    [globex_call] = app_stack.llm.calls_for(needle("globex/web", 1))
    assert abs(acme_call.started - globex_call.started) < 2.0
    # Every call about a repository carried its own installation's token, and none failed.
    for repo, installation in (("acme/api", ACME), ("globex/web", GLOBEX)):
        sent = requests_to(app_stack, repo)
        assert sent and {github.installation_of_request(r) for r in sent} == {installation}
        assert not refusals(sent), refusals(sent)
    acme_tokens = {t for i, t in github.issued if i == ACME}
    globex_tokens = {t for i, t in github.issued if i == GLOBEX}
    assert acme_tokens and globex_tokens and not acme_tokens & globex_tokens
    # The comments are the App's bot's, and Prism found its own comment by that login.
    for repo, head in (("acme/api", acme_head), ("globex/web", globex_head)):
        [comment] = github.issue_comments(repo, 1)
        assert comment["user"]["login"] == f"{SLUG}[bot]" and head in comment["body"]
        assert github.statuses(repo, head) == ["pending", "success"]
    assert not github.calls("GET", "/user")  # an installation token cannot read it
    # The stand-in holds each token to its own organisation, as GitHub does.
    acme_token = [token for i, token in github.issued if i == ACME][-1]  # the live one
    crossed = requests.get(
        f"{github.url}/repos/globex/web/pulls/1",
        headers={"Authorization": f"Bearer {acme_token}"},
        timeout=10,
    )
    assert crossed.status_code == 404
    assert_no_credential_in_logs(app_stack, app_private_key[0])


def test_a_token_that_expires_mid_review_is_replaced_and_the_review_finishes(
    app_stack, app_private_key
):
    github = app_stack.github
    plan = app_stack.llm.plan(needle("acme/tools", 1), hold=3.0)
    head, response = open_pull(app_stack, "acme/tools", ACME, "01-plain-modification")
    assert response.status_code == 202, response.text
    # The review has read the pull request and sits in the model call: its token dies now.
    wait_until(lambda: plan.held, timeout=60, what="the acme/tools review to reach the model")
    issued_before = len(github.issued)
    github.expire_tokens(ACME, after=0)

    [row] = app_stack.wait_for_reviews("acme/tools", 1)

    assert row["status"] == "completed", row["error"]
    assert row["comment_posted_at"] is not None and not row["comment_error"]
    sent = requests_to(app_stack, "acme/tools")
    refused = [r for r in sent if r.status == 401]
    assert len(refused) == 1, "the expired token was refused once, then replaced"
    # The refused call was made again at once, with a new token, and succeeded.
    retried = sent[sent.index(refused[0]) + 1]
    assert (retried.method, retried.path) == (refused[0].method, refused[0].path)
    assert retried.status < 400
    assert retried.headers["authorization"] != refused[0].headers["authorization"]
    new_tokens = [t for i, t in github.issued[issued_before:] if i == ACME]
    assert new_tokens, "no new token was issued"
    assert github.statuses("acme/tools", head) == ["pending", "success"]
    assert_no_credential_in_logs(app_stack, app_private_key[0])


def test_a_removed_repository_has_its_next_delivery_ignored_with_the_reason(app_stack):
    data = payload("installation_repositories.removed.json")
    data["installation"].update(id=GLOBEX, app_id=APP_ID)
    data["installation"]["account"].update(login="globex", type="Organization")
    data["repositories_removed"] = [
        {"id": repository_id("globex/site"), "full_name": "globex/site", "name": "site"}
    ]
    app_stack.github.remove_repository(GLOBEX, "globex/site")

    removed = app_stack.deliver(compact(data), event="installation_repositories")
    _, response = open_pull(app_stack, "globex/site", GLOBEX, "01-plain-modification")

    assert removed.json() == {"status": "applied", "detail": "removed globex/site"}
    assert response.status_code == 200
    assert response.json() == {
        "status": "ignored",
        "reason": f"repository globex/site is not installed for installation {GLOBEX}",
    }
    assert app_stack.analyses("globex/site") == []
    assert requests_to(app_stack, "globex/site") == []


def test_sync_installations_heals_a_missed_delivery(app_stack):
    # GitHub added acme/late to the installation, and Prism never heard of it.
    app_stack.github.install(ACME, "acme", *ACME_REPOS)
    head, before = open_pull(app_stack, "acme/late", ACME, "01-plain-modification")
    assert before.json() == {
        "status": "ignored",
        "reason": f"repository acme/late is not installed for installation {ACME}",
    }

    out = app_stack.prism.manage("sync_installations")

    assert "added: acme/late (enabled)" in out
    assert "0 uninstalled" in out
    # GitHub's manual redelivery of the same event, now that the repository is known.
    assert app_stack.deliver(opened("acme/late", ACME, head)).status_code == 202
    [row] = app_stack.wait_for_reviews("acme/late", 1)
    assert row["status"] == "completed", row["error"]
    assert row["installation_id"] == ACME


def test_a_command_acts_with_its_installation_and_one_the_allow_list_refuses_is_ignored(
    app_stack,
):
    github, repo = app_stack.github, "acme/api"
    head = sha(f"{repo}#1 app")
    if (repo, 1) not in github.pulls:  # this test alone: the pull request and its review
        _, opened_response = open_pull(app_stack, repo, ACME, "01-plain-modification")
        assert opened_response.status_code == 202, opened_response.text
        app_stack.wait_for_reviews(repo, 1)
    reviews_before = len(app_stack.analyses(repo))

    response, comment_id = app_stack.comment(
        repo, 1, "@prism review", login="carol", association="COLLABORATOR",
        installation=(ACME, repository_id(repo)),
    )  # fmt: skip

    assert response.status_code == 202, response.text
    [command] = app_stack.wait_for_commands(repo, 1)
    assert command["status"] == "done", command["error"] or command["outcome"]
    assert command["installation_id"] == ACME
    rows = app_stack.wait_for_reviews(repo, reviews_before + 1)
    [manual] = [row for row in rows if row["event"] == "command"]
    assert (manual["status"], manual["installation_id"]) == ("completed", ACME), manual["error"]
    assert manual["head_sha"] == head
    assert github.added_reactions[repo, "issues", comment_id] == ["eyes", "rocket"]
    sent = requests_to(app_stack, repo)
    assert {github.installation_of_request(r) for r in sent} == {ACME}
    assert not refusals(sent), refusals(sent)

    # globex's repository, delivered as if for acme's installation: not recorded at all.
    refused, _ = app_stack.comment(
        "globex/web", 1, "@prism review", login="carol", association="COLLABORATOR",
        installation=(ACME, repository_id("globex/web")),
    )  # fmt: skip
    assert refused.status_code == 200
    assert refused.json() == {
        "status": "ignored",
        "reason": f"repository globex/web is not installed for installation {ACME}",
    }
    assert app_stack.commands("globex/web") == []
