"""Commands on a Prism running as a GitHub App: the allow-list covers comments, a command and
the reviews it queues act with the delivery's installation, the App's slug addresses Prism,
a paused head's check run is neutral, and a question is held to the budgets."""

import uuid
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from reviews import budgets
from reviews.commands import names
from reviews.github import signatures
from reviews.models import Analysis, Command, Installation, PullRequestState, Repository
from reviews.tasks import review_pull_request, run_command
from tests import stubs
from tests.installations.test_app_reviews import TOKEN, serve_app
from tests.pr_commands.conftest import serve_reactions
from tests.pr_commands.payloads import as_bytes, issue_comment
from tests.stubs import CHAT, COMMENTS_API, HEAD, NUMBER, REPO, calls_to, sent_json
from tests.test_metrics import value

pytestmark = pytest.mark.django_db

SECRET = "test-webhook-secret"
INSTALLATION = 11
CHECK_RUNS = f"{stubs.API}/repos/{REPO}/check-runs"


@pytest.fixture
def installed(app_mode):
    installation = Installation.objects.create(id=INSTALLATION, account_login="octo")
    return Repository.objects.create(installation=installation, full_name=REPO)


@pytest.fixture
def queue(broker):
    return broker


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def deliver(data, *, installation: int | None = INSTALLATION, event="issue_comment"):
        if installation is not None:
            data["installation"] = {"id": installation, "node_id": "MDIzOkludGVncmF0aW9uMTE="}
        body = as_bytes(data)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/github/",
                data=body,
                content_type="application/json",
                HTTP_X_GITHUB_EVENT=event,
                HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
                HTTP_X_HUB_SIGNATURE_256=signatures.sign(SECRET, body),
            )

    return deliver


# --- the webhook ---------------------------------------------------------------------------


def test_a_command_on_an_installed_repository_keeps_its_installation(installed, deliver, queue):
    response = deliver(issue_comment("@prism review"))

    assert response.status_code == 202
    command = Command.objects.get()
    assert command.installation_id == INSTALLATION
    queue.assert_not_called()  # the review broker; the command went to its own task


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("not installed", "repository octo/widgets is not installed for installation 11"),
        ("suspended", "installation 11 (octo) is suspended"),
        ("disabled", "repository octo/widgets is disabled"),
        ("no installation", "the delivery names no installation of Prism's GitHub App"),
    ],
)
def test_a_command_the_allow_list_refuses_is_ignored_with_the_reason(
    app_mode, deliver, setup, reason
):
    installation = Installation.objects.create(id=INSTALLATION, account_login="octo")
    if setup != "not installed":
        Repository.objects.create(
            installation=installation, full_name=REPO, enabled=setup != "disabled"
        )
    if setup == "suspended":
        Installation.objects.filter(id=INSTALLATION).update(suspended_at=timezone.now())

    response = deliver(
        issue_comment("@prism review"), installation=None if setup == "no installation" else 11
    )

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert response.json()["reason"].startswith(reason)
    assert not Command.objects.exists()


def test_comment_deliveries_are_counted_under_their_own_event(installed, deliver):
    def counted(outcome: str, code: str) -> float:
        return value(
            "prism_webhook_deliveries_total", event="issue_comment", outcome=outcome, code=code
        )

    before = counted("ignored", "200"), counted("queued", "202")

    deliver(issue_comment("nice work", comment_id=1))  # not a command
    deliver(issue_comment("@prism help", comment_id=2))

    assert (counted("ignored", "200"), counted("queued", "202")) == (before[0] + 1, before[1] + 1)


# --- the name commands address -------------------------------------------------------------


def test_without_prism_bot_name_the_apps_slug_is_recognised_once_a_worker_learnt_it(
    installed, deliver, settings
):
    settings.PRISM_BOT_NAME = ""
    assert names.accepted() == ("prism",)  # nothing asked GitHub yet, and the webhook won't
    ignored = deliver(issue_comment("@prism-review review", comment_id=1))
    assert ignored.json() == {"status": "ignored", "reason": "not a command for @prism"}

    key = f"prism:github-app:{settings.GITHUB_APP_ID}:bot-login"
    cache.set(f"{key}:known", "prism-review[bot]")  # as tokens.bot_login() leaves it

    assert names.accepted() == ("prism", "prism-review")
    assert names.shown() == "prism-review"
    assert deliver(issue_comment("@prism-review review", comment_id=2)).status_code == 202
    assert deliver(issue_comment("@prism review", comment_id=3)).status_code == 202


def test_a_configured_prism_bot_name_is_the_only_name(installed, settings):
    settings.PRISM_BOT_NAME = "acme-review"
    cache.set(f"prism:github-app:{settings.GITHUB_APP_ID}:bot-login:known", "prism-review[bot]")

    assert names.accepted() == ("acme-review",)
    assert names.shown() == "acme-review"


def test_personal_token_mode_answers_to_prism(settings):
    settings.PRISM_BOT_NAME = ""
    assert (names.accepted(), names.shown()) == (("prism",), "prism")


# --- the worker ----------------------------------------------------------------------------


def command(**fields) -> Command:
    defaults = {
        "source": "issue_comment",
        "comment_id": 7001,
        "repo_full_name": REPO,
        "pr_number": NUMBER,
        "pr_author": "octo",
        "author": "alice",
        "author_association": "COLLABORATOR",
        "verb": "review",
        "installation_id": INSTALLATION,
    }
    return Command.objects.create(**{**defaults, **fields})


def test_a_review_command_acts_with_its_installation_and_so_does_its_review(
    http, installed, broker
):
    asked = command()
    serve_app(http)
    serve_reactions(http, asked.comment_id)
    stubs.serve_pull_request(http)

    run_command.run(asked.id)

    asked.refresh_from_db()
    assert asked.status == "done", asked.error
    analysis = Analysis.objects.get()
    assert (analysis.event, analysis.installation_id) == ("command", INSTALLATION)
    github_calls = [c for c in http.calls if "/repos/" in (c.request.url or "")]
    assert github_calls
    assert {c.request.headers["Authorization"] for c in github_calls} == {f"Bearer {TOKEN}"}
    assert not [c for c in http.calls if (c.request.url or "").endswith("/user")]


def test_the_apps_own_comment_is_ignored(http, installed):
    own = command(author="prism-review[bot]", verb="help")
    serve_app(http)

    run_command.run(own.id)

    own.refresh_from_db()
    assert own.status == "ignored"
    assert not [c for c in http.calls if "/reactions" in (c.request.url or "")]


def test_a_paused_heads_check_run_is_neutral_and_its_status_an_error(
    http, installed, make_analysis, settings
):
    settings.POST_COMMIT_STATUS = True
    PullRequestState.objects.create(
        repo_full_name=REPO, pr_number=NUMBER, paused=True, paused_by="octo"
    )
    pushed = make_analysis(
        repo_full_name=REPO,
        pr_number=NUMBER,
        head_sha=HEAD,
        action="synchronize",
        installation_id=INSTALLATION,
    )
    serve_app(http)
    stubs.serve_pull_request(http)
    http.post(stubs.status_api(), status=201, json={})
    http.post(CHECK_RUNS, status=201, json={"id": 4})

    review_pull_request.run(pushed.id)

    pushed.refresh_from_db()
    assert (pushed.status, pushed.error) == ("skipped", "Paused by @octo")
    [status] = calls_to(http, "POST", stubs.status_api())
    assert (sent_json(status)["state"], sent_json(status)["description"]) == (
        "error",
        "Not reviewed: paused by @octo",
    )
    [check] = calls_to(http, "POST", CHECK_RUNS)
    sent = sent_json(check)
    assert (sent["conclusion"], sent["output"]["title"]) == (
        "neutral",
        "Not reviewed: paused by @octo",
    )
    assert calls_to(http, "POST", CHAT) == []


# --- a question and the budgets ------------------------------------------------------------


@pytest.fixture
def priced(settings):
    settings.LLM_PRICES = {"openai/gpt-4o-mini": {"input": Decimal("2"), "output": Decimal("10")}}
    settings.LLM_MAX_OUTPUT_TOKENS = 1_000


def test_a_question_over_the_repositorys_budget_is_refused_without_a_model_call(
    http, installed, priced, make_analysis
):
    Repository.objects.filter(full_name=REPO).update(daily_budget=Decimal("0.05"))
    spent = make_analysis(repo_full_name=REPO)
    Analysis.objects.filter(pk=spent.pk).update(cost=Decimal("0.05"), started_at=timezone.now())
    asked = command(verb="ask", arguments="what does the auth change do?")
    serve_app(http)
    serve_reactions(http, asked.comment_id)
    stubs.serve_pull_request(http, diff="12-multiple-hunks")
    http.post(COMMENTS_API, status=201, json=stubs.comment_json(990, "reply"))

    run_command.run(asked.id)

    asked.refresh_from_db()
    assert asked.status == "refused"
    # The App's slug (GET /app, learnt when the worker built its client) is the name shown.
    assert asked.reply.startswith(
        "`@prism-review ask` was not answered: octo/widgets reached its $0.05 daily budget"
    )
    assert calls_to(http, "POST", CHAT) == []
    [reply] = calls_to(http, "POST", COMMENTS_API)
    assert "daily budget" in sent_json(reply)["body"]


def test_what_questions_cost_counts_against_the_budgets(installed, priced):
    Repository.objects.filter(full_name=REPO).update(daily_budget=Decimal("1.00"))
    command(verb="ask", comment_id=1, cost=Decimal("0.30"), started_at=timezone.now())
    command(verb="ask", comment_id=2, repo_full_name="octo/other", cost=Decimal("5"))
    [cap] = budgets.caps_for(REPO)

    assert budgets.spent(cap, timezone.now()) == Decimal("0.30")
    refusal = budgets.admit_question(repo=REPO, model="openai/gpt-4o-mini", prompt_tokens=350_000)
    assert refusal is not None  # $0.30 + $0.70 + $0.01 of answer would cross $1.00
    assert refusal.title.startswith("Not answered: octo/widgets reached its $1.00 daily budget")
    assert (
        budgets.admit_question(repo=REPO, model="openai/gpt-4o-mini", prompt_tokens=1_000) is None
    )


def test_a_questions_cost_is_priced_when_the_provider_reports_none(http, record_command, priced):
    asked = record_command("@prism ask what does the auth change do?")
    stubs.serve_identity(http)
    serve_reactions(http, asked.comment_id)
    stubs.serve_pull_request(http, diff="12-multiple-hunks")
    http.post(COMMENTS_API, status=201, json=stubs.comment_json(990, "reply"))
    http.post(
        CHAT,
        json={
            "model": "openai/gpt-4o-mini",
            "choices": [{"message": {"role": "assistant", "content": "It adds digest auth."}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 60},
        },
    )

    run_command.run(asked.id)

    asked.refresh_from_db()
    assert asked.status == "done", asked.error
    # 900 prompt tokens at $2/M and 60 answer tokens at $10/M.
    assert (asked.prompt_tokens, asked.completion_tokens) == (900, 60)
    assert asked.cost == Decimal("0.002400")
