"""Carrying out one recorded command in the worker: acknowledge, check, act, answer.

Receipt is acknowledged at once with 👀 (`eyes`); completion with 🚀 (`rocket`); a refused or
unknown command gets 😕 (`confused`) and a short reply saying why, and never a model call; a
failure gets a reply saying it failed. Prism's own comments are ignored here, where its login
is known. What happened is recorded on the command's row for the admin and the API.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from reviews import budgets, clients, dispatch, ledger
from reviews.commands import ask, names, permissions
from reviews.commands import services as command_services
from reviews.commands.parse import SPOKEN, Verb, dismissal, help_text
from reviews.comments.sanitize import code_span
from reviews.github.client import GitHubClient, GitHubError
from reviews.github.resources import PullRequest
from reviews.llm.fallback import Answerer
from reviews.models import Analysis, Command, Finding
from reviews.pipeline import publish, threads

logger = logging.getLogger(__name__)

Status = Command.Status


@dataclass
class Outcome:
    status: str  # Status.DONE or Status.REFUSED
    summary: str  # for the operator
    reply: str = ""  # what Prism answers on the pull request ("" for none)
    fields: dict[str, Any] = field(default_factory=dict)


def run(
    command_id: int, *, github: GitHubClient | None = None, llm: Answerer | None = None
) -> None:
    """Run a claimed (running) command. GitHub and model errors propagate to the task."""
    command = Command.objects.get(id=command_id)
    github = github or clients.github_client_for(command.repo_full_name, command.installation_id)
    if command.author.lower() == github.authenticated_login().lower():
        command_services.command_finish(
            command_id=command.id, status=Status.IGNORED, outcome="Prism's own comment."
        )
        return
    react(github, command, "eyes")
    verdict = permissions.may_run(
        Verb(command.verb),
        login=command.author,
        association=command.author_association,
        pr_author=command.pr_author,
        role_of=lambda login: _role(github, command.repo_full_name, login),
    )
    if not verdict.allowed:
        outcome = refused(f"{_said(command)} was not run: {verdict.reason}")
    else:
        outcome = HANDLERS[Verb(command.verb)](command, github, llm)
    finish(command, github, outcome)


def finish(command: Command, github: GitHubClient, outcome: Outcome) -> None:
    """Answer on the pull request, then record; the reaction says how it ended."""
    if outcome.reply:
        reply(github, command, outcome.reply)
    react(github, command, "rocket" if outcome.status == Status.DONE else "confused")
    command_services.command_finish(
        command_id=command.id,
        status=outcome.status,
        outcome=outcome.summary,
        reply=outcome.reply,
        **outcome.fields,
    )
    logger.info(
        "command finished command_id=%s verb=%s status=%s", command.id, command.verb, outcome.status
    )


def report_failure(command_id: int, error: str) -> None:
    """Tell the commenter the command failed (best effort: the row already holds the error)."""
    try:
        command = Command.objects.get(id=command_id)
        github = clients.github_client_for(command.repo_full_name, command.installation_id)
        reply(github, command, f"{_said(command)} failed: {error[:300]}. An operator can see why.")
        react(github, command, "confused")
    except Exception:
        logger.warning("could not report a failed command command_id=%s", command_id, exc_info=True)


def refused(text: str, summary: str = "") -> Outcome:
    return Outcome(Status.REFUSED, summary or text, reply=text)


# --- the verbs ---------------------------------------------------------------------------


def do_help(command: Command, github: GitHubClient, llm: Answerer | None) -> Outcome:
    return Outcome(
        Status.DONE,
        "Listed the commands.",
        reply=help_text(names.shown(), settings.MANUAL_RUNS_PER_PR),
    )


def do_unknown(command: Command, github: GitHubClient, llm: Answerer | None) -> Outcome:
    word = (command.arguments.split(maxsplit=1) or [""])[0][:50]
    said = code_span(f"@{names.shown()} {word}".strip())
    why = f"{said} is not a command I know."
    if word.lower() == "ignore":
        why = f"{said} works in the pull request's description, not in a comment."
    help_list = help_text(names.shown(), settings.MANUAL_RUNS_PER_PR)
    return refused(f"{why}\n\n{help_list}", summary=f"Unknown command {word!r}.")


def do_review(command: Command, github: GitHubClient, llm: Answerer | None) -> Outcome:
    pr = _open_pull_request(command, github)
    if isinstance(pr, Outcome):
        return pr
    return _queue_review(command, pr) or refused(_capped(command))


def do_pause(command: Command, github: GitHubClient, llm: Answerer | None) -> Outcome:
    repo, number = command.repo_full_name, command.pr_number
    if not command_services.pull_request_pause(repo=repo, number=number, login=command.author):
        return Outcome(Status.DONE, "Already paused.", reply="Already paused.")
    resume = code_span(f"@{names.shown()} resume")
    return Outcome(
        Status.DONE,
        f"Paused by {command.author}.",
        reply=f"Paused: pushes to this pull request are not reviewed until {resume}.",
    )


def do_resume(command: Command, github: GitHubClient, llm: Answerer | None) -> Outcome:
    repo, number = command.repo_full_name, command.pr_number
    if not command_services.pull_request_resume(repo=repo, number=number, login=command.author):
        return Outcome(Status.DONE, "Was not paused.", reply="This pull request was not paused.")
    pr = _open_pull_request(command, github)
    if isinstance(pr, Outcome):
        return Outcome(Status.DONE, "Resumed; the pull request is closed.")
    queued = _queue_review(command, pr)
    if queued is None:
        text = f"Resumed; the head was not reviewed now: {_capped(command)}"
        return Outcome(Status.DONE, text, reply=text)
    queued.summary = f"Resumed; {queued.summary}"
    return queued


def do_dismiss(command: Command, github: GitHubClient, llm: Answerer | None) -> Outcome:
    asked = dismissal(command.arguments)
    finding = _finding(command, asked.finding)
    if finding is None:
        usage = code_span(f"@{names.shown()} dismiss <id> [reason]")
        named = f"finding {code_span(asked.finding)}" if asked.finding else "no finding"
        return refused(
            f"There is {named} to dismiss on this pull request. Use {usage} with an id from "
            "the summary comment, or reply in the finding's thread."
            if asked.finding
            else f"Name the finding: {usage} with an id from the summary comment, or reply "
            "in the finding's thread.",
            summary=f"No finding {asked.finding!r} on the pull request.",
        )
    fields = {"finding": finding}
    if not ledger.finding_dismiss(finding=finding, login=command.author, reason=asked.reason):
        return Outcome(Status.DONE, f"Finding {finding.pk} was dismissed already.", fields=fields)
    error = _resolve_thread(github, command, finding)
    summary = f"Dismissed finding {finding.pk} ({finding.fingerprint})."
    if error:
        summary += f" Its thread could not be resolved: {error}"
    shown = _refresh_review(command, github)
    if shown:
        summary += f" {shown}"
    return Outcome(Status.DONE, summary, fields={**fields, "error": error})


def do_ask(command: Command, github: GitHubClient, llm: Answerer | None) -> Outcome:
    question = command.arguments.strip()
    if not question:
        usage = code_span(f"@{names.shown()} ask <question>")
        return refused(f"Ask a question: {usage}.", summary="No question.")
    pr = _open_pull_request(command, github)
    if isinstance(pr, Outcome):
        return pr
    if not command_services.command_count_run(command=command):
        return refused(_capped(command))
    finding = _thread_finding(command)
    try:
        answer = ask.answer_question(
            question=question,
            pr=pr,
            github=github,
            finding=finding,
            path=command.path,
            line=command.line,
            llm=llm,
        )
    except budgets.OverBudget as over:
        why = over.refusal.title.removeprefix("Not answered: ")
        return refused(f"{_said(command)} was not answered: {why}.", summary=over.refusal.error)
    command_services.command_record_usage(command_id=command.id, usage=answer.usage)
    fields = {"finding": finding} if finding is not None else {}
    return Outcome(Status.DONE, "Answered.", reply=answer.text, fields=fields)


HANDLERS: dict[Verb, Callable[[Command, GitHubClient, Answerer | None], Outcome]] = {
    Verb.REVIEW: do_review,
    Verb.FULL_REVIEW: do_review,
    Verb.PAUSE: do_pause,
    Verb.RESUME: do_resume,
    Verb.DISMISS: do_dismiss,
    Verb.ASK: do_ask,
    Verb.HELP: do_help,
    Verb.UNKNOWN: do_unknown,
}


# --- what the verbs share ----------------------------------------------------------------


def _open_pull_request(command: Command, github: GitHubClient) -> PullRequest | Outcome:
    pr = github.get_pull_request(command.repo_full_name, command.pr_number)
    if pr.merged or pr.state != "open":
        state = "merged" if pr.merged else pr.state
        return refused(f"{_said(command)} was not run: the pull request is {state}.")
    return pr


def _queue_review(command: Command, pr: PullRequest) -> Outcome | None:
    """Queue the review the command asks for, once per command; None over the cap."""
    if not command_services.command_count_run(command=command):
        return None
    analysis = command_services.command_queue_review(command=command, pull_request=pr)
    dispatch.dispatch_review(analysis.id)
    kind = "full review" if command.verb == Verb.FULL_REVIEW else "review"
    return Outcome(
        Status.DONE, f"Queued a {kind} of {pr.head_sha[:12]} as analysis #{analysis.id}."
    )


def _capped(command: Command) -> str:
    cap = settings.MANUAL_RUNS_PER_PR
    return (
        f"this pull request has used its {cap} manual reviews and questions "
        "(MANUAL_RUNS_PER_PR); pushes are still reviewed."
    )


def _finding(command: Command, ref: str) -> Finding | None:
    """The finding a dismissal names: by id, by fingerprint prefix, else its thread's."""
    rows = Finding.objects.filter(
        repo_full_name=command.repo_full_name, pr_number=command.pr_number
    )
    if ref.isdigit():
        return rows.filter(pk=int(ref)).first()
    if ref:
        matches = list(rows.filter(fingerprint__startswith=ref)[:2])
        return matches[0] if len(matches) == 1 else None
    return _thread_finding(command)


def _thread_finding(command: Command) -> Finding | None:
    """The finding whose inline comment opened the thread the command was written in."""
    root = command.in_reply_to_id
    if command.source != Command.Source.REVIEW_COMMENT or root is None:
        return None
    return Finding.objects.filter(
        repo_full_name=command.repo_full_name, pr_number=command.pr_number, review_comment_id=root
    ).first()


def _resolve_thread(github: GitHubClient, command: Command, finding: Finding) -> str:
    """Resolve the dismissed finding's review thread; the error, if GitHub refused."""
    try:
        thread_id = finding.thread_node_id
        if not thread_id:
            found = threads.prism_threads(
                github.review_threads(command.repo_full_name, command.pr_number),
                github.authenticated_login(),
            )
            thread_id = found.get(finding.fingerprint, "")
        if thread_id:
            github.resolve_review_thread(thread_id)
    except GitHubError as exc:
        if not exc.permanent:
            raise
        logger.warning("could not resolve a dismissed finding's thread command_id=%s", command.id)
        return str(exc)[:500]
    return ""


def _refresh_review(command: Command, github: GitHubClient) -> str:
    """Post the pull request's latest review again without the dismissed finding: its summary
    comment and its commit status (which counts open findings). What failed, if anything, is
    on that analysis's `comment_error`, as for any posting."""
    latest = (
        Analysis.objects.filter(
            repo_full_name=command.repo_full_name,
            pr_number=command.pr_number,
            status=Analysis.Status.COMPLETED,
            publish=True,
        )
        .order_by("-id")
        .first()
    )
    if latest is None:
        return ""
    # As a repost: a new check run, since GitHub would append the annotations to the old one.
    if publish.repost_comment(latest.id, github):
        return f"Analysis #{latest.id} posted again without it."
    return f"Analysis #{latest.id} could not be posted again; see its comment_error."


def _role(github: GitHubClient, repo: str, login: str) -> str:
    try:
        return github.collaborator_role(repo, login)
    except ValueError:  # not a login GitHub could know (a deleted account's empty one)
        return ""


def _said(command: Command) -> str:
    verb = SPOKEN.get(Verb(command.verb), "") if command.verb != Verb.UNKNOWN else ""
    return code_span(f"@{names.shown()} {verb}".strip())


def react(github: GitHubClient, command: Command, content: str) -> None:
    """A reaction on the command's comment (best effort past transient errors: a reaction
    GitHub refuses for good must not stop the command)."""
    try:
        github.add_reaction(
            command.repo_full_name,
            command.comment_id,
            content,
            review_comment=command.source == Command.Source.REVIEW_COMMENT,
        )
    except GitHubError as exc:
        if not exc.permanent:
            raise
        logger.warning("reaction %s refused command_id=%s: %s", content, command.id, exc)


def reply(github: GitHubClient, command: Command, text: str) -> None:
    """Answer where the command was written: in its review thread, else in the conversation."""
    if command.source == Command.Source.REVIEW_COMMENT:
        root = command.in_reply_to_id or command.comment_id
        github.reply_to_review_comment(command.repo_full_name, command.pr_number, root, text)
    else:
        github.create_issue_comment(command.repo_full_name, command.pr_number, text)
