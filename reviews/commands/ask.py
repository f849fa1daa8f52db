"""`@prism ask <question>`: an answer from the model, with the relevant hunks as context.

The same rules as a review: only files a review would read (IGNORE_PATHS and the repository's
ignore_paths never travel), credentials redacted from everything sent, the question and the
pull request fenced as untrusted data (reviews/llm/questions.py), and the answer sanitised
like every comment Prism posts (reviews/comments/sanitize.py).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from reviews import budgets, clients, policy, pricing, redaction
from reviews.comments.sanitize import sanitize_block
from reviews.diffs import chunking, file_filter
from reviews.diffs.parser import FileDiff, Hunk
from reviews.github.client import GitHubClient, GitHubError
from reviews.github.resources import PullRequest
from reviews.llm.fallback import Answerer
from reviews.llm.questions import build_question_messages
from reviews.models import Finding
from reviews.pipeline import leaks
from reviews.pipeline import policy as repo_policy
from reviews.pipeline.review import fetch_files
from reviews.results import Usage

ANSWER_CHARS = 12_000


@dataclass(frozen=True)
class Answer:
    text: str  # sanitised, ready to post
    usage: Usage


def answer_question(
    *,
    question: str,
    pr: PullRequest,
    github: GitHubClient,
    finding: Finding | None = None,
    path: str = "",
    line: int | None = None,
    llm: Answerer | None = None,
) -> Answer:
    """Ask the model `question` about `pr`; `finding` (or `path` and `line`): where it was
    asked, whose hunks lead the context. Raises budgets.OverBudget, before any model call,
    when the repository's (or Prism's) budget cannot take the question."""
    rules = _rules(github, pr.repo_full_name)
    files, _ = file_filter.select_files(
        fetch_files(github, pr.repo_full_name, pr.number), rules.ignore_paths.value
    )
    files, _ = leaks.redact_files(files)
    where = (finding.path, finding.line) if finding is not None else (path, line)
    diff_text = relevant_diff(files, question, path=where[0], line=where[1])
    (question, _), (title, _), (body, _), (about, _) = redaction.redact_texts(
        [question, pr.title, pr.body or "", describe(finding) if finding else ""]
    )
    messages = build_question_messages(
        question=question, pr_title=title, pr_body=body, diff_text=diff_text, finding=about
    )
    # Budgets (reviews/budgets.py), before the call: priced at the model asked first.
    refusal = budgets.admit_question(
        repo=pr.repo_full_name,
        model=clients.llm_models(rules.model.value)[0],
        prompt_tokens=sum(chunking.estimate_tokens(str(m.get("content", ""))) for m in messages),
    )
    if refusal is not None:
        raise budgets.OverBudget(refusal)
    llm = llm or clients.llm_client(rules.model.value)
    reply = llm.answer(messages)
    text = redaction.redact(reply.text)[0]
    host = urlsplit(pr.html_url).hostname
    answer = sanitize_block(text, hosts=frozenset({host} if host else ()), limit=ANSWER_CHARS)
    if reply.truncated:
        answer += "\n\n_(The answer was cut off at the model's output limit.)_"
    return Answer(text=answer.strip() or "_The model gave no answer._", usage=_priced(reply.usage))


def _priced(usage: Usage) -> Usage:
    """A model whose provider reported no cost is priced from LLM_PRICES, each model at its
    own price, as a review's calls are (the budgets add questions' costs up)."""
    return Usage.total(
        (
            pricing.priced(part, pricing.price_of(settings.LLM_PRICES, part.model))
            for part in usage.models
        ),
        model=usage.model,
    )


def _rules(github: GitHubClient, repo: str) -> policy.EffectivePolicy:
    """The repository's policy (its ignore_paths and model), else the operator's settings
    when the file cannot be read, as for a review."""
    try:
        return repo_policy.current(github, repo)
    except GitHubError as exc:
        if not exc.permanent:
            raise
        return policy.effective(None, policy.Bounds.from_settings(settings))


def describe(finding: Finding) -> str:
    where = f"{finding.path}:{finding.line}" if finding.line else finding.path
    return (
        f"{finding.severity} {finding.category} finding at {where}: {finding.title}\n\n"
        f"{finding.body}"
    ).strip()


def relevant_diff(
    files: Sequence[FileDiff], question: str, *, path: str = "", line: int | None = None
) -> str:
    """The diff the model reads, within the prompt budget, most relevant first: the hunk at
    `path`:`line` (then the rest of that file), then files the question names, then the rest."""
    budget = max(1_000, settings.LLM_MAX_PROMPT_TOKENS - 2_000)
    parts: list[str] = []
    used = 0
    ranked = _ranked(files, question, path, line)
    for text in ranked:
        cost = chunking.estimate_tokens(text)
        if used + cost > budget:
            continue  # a smaller part later may still fit
        parts.append(text)
        used += cost
    left = len(ranked) - len(parts)
    if left > 0:
        parts.append(f"[{left} more part(s) of the diff left out to fit the prompt]\n")
    return "".join(parts)


def _ranked(files: Sequence[FileDiff], question: str, path: str, line: int | None) -> list[str]:
    lowered = question.lower()
    named = [
        f for f in files if f.path != path and re.search(_mention(f.path), lowered) is not None
    ]
    ordered: list[str] = []
    here = next((f for f in files if f.path == path), None)
    if here is not None:
        first = [h for h in here.hunks if _contains(h, line)]
        rest = [h for h in here.hunks if h not in first]
        if first:
            ordered.append(chunking.render(here, first))
        if rest:
            ordered.append(chunking.render(here, rest))
    ordered += [chunking.render(f) for f in named if f.hunks]
    ordered += [chunking.render(f) for f in files if f is not here and f not in named and f.hunks]
    return ordered


def _mention(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    return rf"(?<![\w/.-])(?:{re.escape(path.lower())}|{re.escape(name)})(?![\w-])"


def _contains(hunk: Hunk, line: int | None) -> bool:
    if not line:
        return False
    return hunk.new_start <= line < hunk.new_start + max(hunk.new_count, 1)
