"""The review pipeline: one pull request at one head commit, from GitHub to stored findings.

Read top-down: fetch the pull request and its changes, choose what to read, redact
credentials, pack chunks, ask the model (chunks in parallel), anchor the findings on the
diff, store, publish. Errors from GitHub and the model propagate to the task, which
decides between a retry and a failure.
"""

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from django.conf import settings

from reviews import (
    budgets,
    clients,
    ledger,
    logs,
    policy,
    pricing,
    redaction,
    results,
    selectors,
    services,
)
from reviews.diffs import anchoring, chunking, file_filter, incremental, parser
from reviews.github.client import DiffTooLarge, GitHubClient
from reviews.github.resources import PullRequest
from reviews.llm.client import LLMError, ReviewOutput
from reviews.llm.fallback import Reviewer
from reviews.llm.prompt import build_messages
from reviews.models import Analysis
from reviews.pipeline import deferred, gate, leaks, publish, push, spending
from reviews.pipeline import policy as repo_policy
from reviews.results import ChunkModel, Coverage, Finding, ReviewResult, Skipped, Usage

logger = logging.getLogger(__name__)

Status = Analysis.Status


def run(
    analysis_id: int, *, github: GitHubClient | None = None, llm: Reviewer | None = None
) -> None:
    """Review a claimed (running) analysis end to end, and publish it unless told not to."""
    analysis = Analysis.objects.get(id=analysis_id)
    post = analysis.publish
    github = github or clients.github_client_for(analysis.repo_full_name, analysis.installation_id)
    timings = Timings()

    with timings("fetch"):
        pr = github.get_pull_request(analysis.repo_full_name, analysis.pr_number)
    if not _still_wanted(analysis, pr):
        return
    services.analysis_supersede_older(analysis=analysis)
    if gate.skip_if_turned_off(analysis, pr, github if post else None):
        return  # paused, or the author opted out: no model call
    with timings("fetch"):
        rules = repo_policy.for_review(analysis, pr, github)
    if rules is None:  # the repository's policy skips this pull request: no model call
        if post:
            publish.report_skipped_by_policy(analysis.id, github)
        return
    manual = gate.is_manual(analysis)
    previous = (
        selectors.last_completed_review(analysis) if push.is_push(analysis) or manual else None
    )
    if previous is not None and rules.on_push.value == "off" and not manual:
        push.skip_push(analysis, github if post else None, push.off_reason(rules))
        return
    if post:
        publish.report_pending(analysis, github)
    with timings("fetch"):
        files = fetch_files(github, analysis.repo_full_name, analysis.pr_number)
        current = _read_at_head(analysis, github)
    if not current:
        if post:
            publish.report_superseded(analysis.id, github)
        return
    with timings("fetch"):
        plan = push.plan_review(
            github, pr, previous, on_push=rules.on_push.value, asked=gate.asked(analysis)
        )
    repo_policy.record(analysis, rules, files)

    llm = llm or clients.llm_client(rules.model.value)
    # Budgets, before the first model call: priced at the model asked first.
    budget = spending.gate(analysis, clients.llm_models(rules.model.value)[0])
    try:
        result = review_files(
            files, pr=pr, llm=llm, timings=timings, plan=plan, rules=rules, before_model=budget
        )
    except budgets.OverBudget as over:
        spending.skip_over_budget(analysis, github if post else None, over.refusal)
        return

    started = time.perf_counter()
    summary = ledger.analysis_complete_with_findings(
        analysis=analysis, result=result, changed_lines=result.changed_lines
    )
    if summary is None:
        logger.info("review finished after losing its claim analysis_id=%s", analysis.id)
        if post:
            publish.report_superseded(analysis.id, github)
        return
    services.analysis_record_timing(
        analysis_id=analysis.id, step="store", seconds=time.perf_counter() - started
    )
    if post:
        deferred.publish_or_defer(analysis.id, github)


def review_files(
    files: list[parser.FileDiff],
    *,
    pr: PullRequest,
    llm: Reviewer,
    timings: "Timings",
    plan: incremental.PushPlan | None = None,
    rules: policy.EffectivePolicy | None = None,
    before_model: Callable[[int, int], None] | None = None,
) -> ReviewResult:
    """Everything between the parsed diff and the findings; no database, no GitHub.

    With an incremental `plan`, only the hunks its new commits touched are read; findings
    still anchor on the whole diff. `plan` None: a pull request's first review. `rules`: the
    repository's policy (None: the operator's settings alone). `before_model(prompt_tokens,
    calls)` is told what the chunk plan will send before the first model call, and may stop
    the review by raising (the budgets do).
    """
    ignore = rules.ignore_paths.value if rules is not None else tuple(settings.IGNORE_PATHS)
    reviewing = files
    if plan is not None and plan.incremental:
        reviewing = incremental.restrict_to_changes(files, plan.changed_lines)
    with timings("parse"):
        selected, skipped = file_filter.select_files(reviewing, ignore)
        selected, secret_findings = leaks.redact_files(selected)
        # The budget leaves room for every rule that may apply to any chunk.
        widest = _policy_blocks(rules, [file.path for file in selected])
        chunks, over_budget = chunking.plan_chunks(
            selected, max_tokens=chunk_budget(pr, widest), max_calls=settings.LLM_MAX_CALLS
        )
    if before_model is not None:
        before_model(prompt_tokens(pr, chunks, rules), len(chunks))
    with timings("llm"):
        answers = ask_model(llm, pr, chunks, rules)
    waited = sum(answer.waited for _, answer in answers if isinstance(answer, ReviewOutput))
    if waited:
        # Summed over the chunks' calls, which wait in parallel: for the operator, how much
        # of the review the shared call cap and rate limits cost (throttle.py).
        timings.seconds["llm_wait"] = round(waited, 3)
    failed = [(chunk, answer) for chunk, answer in answers if isinstance(answer, LLMError)]
    if failed and len(failed) == len(answers):
        # Nothing was reviewed: the review failed, never a clean one; what it cost is kept.
        error = failed[0][1]
        error.usage = _usage([answer for _, answer in answers])
        raise error
    outputs = [answer for _, answer in answers if isinstance(answer, ReviewOutput)]
    unread = [
        Skipped(path, "model_error", chunk.changed_lines)
        for chunk, _ in failed
        for path in chunk.paths
    ]
    reviewed = [chunk for chunk, answer in answers if isinstance(answer, ReviewOutput)]
    coverage = _coverage(reviewing, reviewed, [*skipped, *over_budget, *unread])
    # Findings anchor on the whole diff (an incremental review read only part of it), and the
    # anchor text is stored: it is read from redacted files, so the ledger keeps no credential
    # any more than the model is sent one.
    redacted = {file.path: file for file in selected}
    rest = [file for file in files if file.path not in redacted or reviewing is not files]
    redacted.update((file.path, file) for file in leaks.redact_files(rest)[0])
    shown = [redacted[file.path] for file in files]
    return ReviewResult(
        summary=_summary(outputs, len(chunks), plan),
        # The leaked-secret findings are Prism's own: a policy's categories never drop them.
        findings=tuple(
            anchoring.anchor(merge([*secret_findings, *_model_findings(outputs, rules)]), shown)
        ),
        coverage=replace(coverage, scope=push.scope(plan, files)),
        usage=_usage([answer for _, answer in answers]),
        timings=timings.seconds,
        changed_lines=plan.changed_lines if plan is not None and plan.incremental else None,
        new_side=anchoring.new_side(shown),
        chunks=tuple(
            ChunkModel(part=index, model=answer.model, fallback=answer.fallback, tried=answer.tried)
            for index, (_, answer) in enumerate(answers, start=1)
            if isinstance(answer, ReviewOutput)
        ),
    )


def _still_wanted(analysis: Analysis, pr: PullRequest) -> bool:
    """Skip a closed pull request; supersede a review of a head that has moved on."""
    if pr.merged or pr.state != "open":
        reason = "merged" if pr.merged else pr.state
        services.analysis_finish(
            analysis_id=analysis.id, status=Status.SKIPPED, error=f"Pull request is {reason}."
        )
        return False
    if pr.head_sha != analysis.head_sha:
        services.analysis_finish(
            analysis_id=analysis.id,
            status=Status.SUPERSEDED,
            error=f"The head moved to {pr.head_sha[:12]} before this review started.",
        )
        return False
    return True


def _read_at_head(analysis: Analysis, github: GitHubClient) -> bool:
    """Whether the changes just read are this review's head's; if not, it is superseded.

    GitHub serves a pull request's diff (and its files) at whatever the head is when asked,
    not at a commit: a push landing between the read of the head and the read of the diff
    would hand this review the newer head's changes, stored as this head's. The ledger would
    then be brought up to date with changes this head never had, and a later push whose tree
    is this head's again would find nothing new and outdate every finding. The head read
    again after the diff closes that window: a head that did not move means the diff was its.
    """
    pr = github.get_pull_request(analysis.repo_full_name, analysis.pr_number)
    if pr.head_sha == analysis.head_sha:
        return True
    services.analysis_finish(
        analysis_id=analysis.id,
        status=Status.SUPERSEDED,
        error=f"The head moved to {pr.head_sha[:12]} while this review read its changes.",
    )
    return False


def fetch_files(github: GitHubClient, repo: str, number: int) -> list[parser.FileDiff]:
    """The pull request's changes: the whole diff, or file by file when GitHub won't send it.

    GitHub refuses the diff media type beyond 300 files or 20,000 lines (docs/github-facts.md R2).
    """
    try:
        return parser.parse(github.get_diff(repo, number))
    except DiffTooLarge:
        logger.info("diff too large, reading files page by page repo=%s pr=%s", repo, number)
        return parser.from_github_files(github.list_files(repo, number))


def chunk_budget(pr: PullRequest, rules: list[tuple[str, str]] | None = None) -> int:
    """Tokens left for the diff once the instructions and the PR's description are in."""
    frame = build_messages(
        pr_title=pr.title, pr_body=pr.body, chunk_text="", part=1, parts=1, policy=rules or []
    )
    overhead = sum(chunking.estimate_tokens(m["content"]) for m in frame)
    return max(1_000, settings.LLM_MAX_PROMPT_TOKENS - overhead)


def prompt_tokens(
    pr: PullRequest, chunks: list[chunking.Chunk], rules: policy.EffectivePolicy | None = None
) -> int:
    """What the chunk plan's calls will send, in estimated tokens: each chunk with the
    instructions, the pull request's description and its repository's rules around it."""
    return sum(
        chunking.estimate_tokens(message["content"])
        for index, chunk in enumerate(chunks)
        for message in build_messages(
            pr_title=pr.title,
            pr_body=pr.body,
            chunk_text=chunk.text,
            part=index + 1,
            parts=len(chunks),
            policy=_policy_blocks(rules, list(chunk.paths)),
        )
    )


def _policy_blocks(rules: policy.EffectivePolicy | None, paths: list[str]) -> list[tuple[str, str]]:
    """The repository's instructions for a chunk of these files, as the prompt takes them."""
    if rules is None:
        return []
    house, matching = rules.instructions_for(paths)
    blocks = [("For every file", house)] if house else []
    return blocks + [(f"For files matching {rule.path}", rule.instructions) for rule in matching]


def ask_model(
    llm: Reviewer,
    pr: PullRequest,
    chunks: list[chunking.Chunk],
    rules: policy.EffectivePolicy | None = None,
) -> list[tuple[chunking.Chunk, ReviewOutput | LLMError]]:
    """One call per chunk, LLM_CONCURRENCY at a time.

    A permanent failure of one chunk costs only that chunk (reported as not reviewed); a
    transient one (rate limit, 5xx) retries the whole review, so no chunk is lost.
    """
    if not chunks:
        return []
    # The title and description are the author's text too: a credential pasted there must
    # not travel to the model any more than one in the diff. They are read as one text, so
    # a key that starts in the title and goes on in the description goes whole.
    (title, _), (body, _) = redaction.redact_texts([pr.title, pr.body or ""])

    def review(index_chunk: tuple[int, chunking.Chunk]) -> ReviewOutput | LLMError:
        index, chunk = index_chunk
        messages = build_messages(
            pr_title=title,
            pr_body=body,
            chunk_text=chunk.text,
            part=index + 1,
            parts=len(chunks),
            policy=_policy_blocks(rules, list(chunk.paths)),
        )
        try:
            return llm.review(messages)
        except LLMError as exc:
            return exc

    workers = min(settings.LLM_CONCURRENCY, len(chunks))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prism-llm") as pool:
        # Each call logs with the review's fields (reviews/logs.py).
        answers = list(pool.map(logs.carrying_context(review), enumerate(chunks)))
    transient = [a for a in answers if isinstance(a, LLMError) and not a.permanent]
    if transient:
        # The whole review is retried; the chunks that did answer were billed all the same.
        error = transient[0]
        error.usage = _usage(answers)
        raise error
    return list(zip(chunks, answers, strict=True))


def _model_findings(
    outputs: list[ReviewOutput], rules: policy.EffectivePolicy | None = None
) -> Iterator[Finding]:
    wanted = rules.categories.value if rules is not None else results.CATEGORIES
    for output in outputs:
        yield from (finding for finding in output.findings if finding.category in wanted)


def merge(found: list[Finding]) -> list[Finding]:
    """One finding per (file, line, category, title): chunks and the redactor may repeat."""
    kept: dict[tuple, Finding] = {}
    for finding in found:
        key = (finding.path, finding.line, finding.category, results.same_title(finding.title))
        current = kept.get(key)
        if current is None or finding.rank > current.rank:
            kept[key] = finding
    return results.most_severe_first(kept.values())


def _summary(
    outputs: list[ReviewOutput], parts: int, plan: incremental.PushPlan | None = None
) -> str:
    summaries = [o.summary.strip() for o in outputs if o.summary and o.summary.strip()]
    if not summaries:
        if parts == 0 and plan is not None and plan.incremental:
            return "Nothing new to review since the last review."
        return "Nothing to review." if parts == 0 else ""
    if len(summaries) == 1:
        return summaries[0]
    return "\n\n".join(f"Part {i}: {text}" for i, text in enumerate(summaries, start=1))


def _coverage(
    files: list[parser.FileDiff], reviewed: list[chunking.Chunk], skipped: list[Skipped]
) -> Coverage:
    reviewed_paths = {path for chunk in reviewed for path in chunk.paths}
    return Coverage(
        files_total=len(files),
        files_reviewed=len(reviewed_paths),
        lines_total=sum(file.changed_lines for file in files),
        lines_reviewed=sum(chunk.changed_lines for chunk in reviewed),
        skipped=tuple(skipped),
    )


def _usage(answers: "list[ReviewOutput | LLMError]") -> Usage:
    """Every answered call's usage: the chunks reviewed, and those that failed after answering
    (a repair that did not help is billed too). A model whose provider reported no cost is
    priced from LLM_PRICES, each model at its own price."""
    return Usage.total(
        (
            pricing.priced(part, pricing.price_of(settings.LLM_PRICES, part.model))
            for answer in answers
            for part in answer.usage.models
        ),
        model=settings.LLM_MODEL,
    )


@dataclass
class Timings:
    """Seconds spent per step; a step entered twice (fetch) adds up."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[step] = round(self.seconds.get(step, 0.0) + elapsed, 3)
