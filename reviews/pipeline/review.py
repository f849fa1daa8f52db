"""The review pipeline: one pull request at one head commit, from GitHub to stored findings.

Read top-down: fetch the pull request and its changes, choose what to read, redact
credentials, pack chunks, ask the model (chunks in parallel), anchor the findings on the
diff, store, publish. Errors from GitHub and the model propagate to the task, which
decides between a retry and a failure.
"""

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from django.conf import settings

from reviews import clients, ledger, redaction, results, selectors, services
from reviews.diffs import chunking, file_filter, incremental, parser
from reviews.github.client import DiffTooLarge, GitHubClient, GitHubError
from reviews.github.resources import PullRequest
from reviews.llm.client import LLMClient, LLMError, ReviewOutput
from reviews.llm.prompt import build_messages
from reviews.models import Analysis
from reviews.pipeline import publish
from reviews.results import Coverage, Finding, ReviewResult, Scope, Skipped, Usage

logger = logging.getLogger(__name__)

Status = Analysis.Status


def run(
    analysis_id: int, *, github: GitHubClient | None = None, llm: LLMClient | None = None
) -> None:
    """Review a claimed (running) analysis end to end, and publish it unless told not to."""
    analysis = Analysis.objects.get(id=analysis_id)
    post = analysis.publish
    github = github or clients.github_client()
    timings = Timings()

    with timings("fetch"):
        pr = github.get_pull_request(analysis.repo_full_name, analysis.pr_number)
    if not _still_wanted(analysis, pr):
        return
    services.analysis_supersede_older(analysis=analysis)
    previous = selectors.last_completed_review(analysis) if _is_push(analysis) else None
    if previous is not None and settings.REVIEW_ON_PUSH == "off":
        _skip_push(analysis, github if post else None)
        return
    if post:
        publish.report_pending(analysis, github)
    with timings("fetch"):
        files = fetch_files(github, analysis.repo_full_name, analysis.pr_number)
        plan = plan_review(github, pr, previous)

    result = review_files(files, pr=pr, llm=llm or clients.llm_client(), timings=timings, plan=plan)

    started = time.perf_counter()
    summary = ledger.analysis_complete_with_findings(
        analysis=analysis, result=result, changed_lines=result.changed_lines
    )
    if summary is None:
        logger.info("review finished after losing its claim analysis_id=%s", analysis.id)
        return
    services.analysis_record_timing(
        analysis_id=analysis.id, step="store", seconds=time.perf_counter() - started
    )
    if post:
        publish.publish_review(analysis.id, github)


def review_files(
    files: list[parser.FileDiff],
    *,
    pr: PullRequest,
    llm: LLMClient,
    timings: "Timings",
    plan: incremental.PushPlan | None = None,
) -> ReviewResult:
    """Everything between the parsed diff and the findings; no database, no GitHub.

    With an incremental `plan`, only the hunks its new commits touched are read; findings
    still anchor on the whole diff. `plan` None: a pull request's first review.
    """
    reviewing = files
    if plan is not None and plan.incremental:
        reviewing = incremental.restrict_to_changes(files, plan.changed_lines)
    with timings("parse"):
        selected, skipped = file_filter.select_files(reviewing, settings.IGNORE_PATHS)
        selected, secret_findings = redact_files(selected)
        chunks, over_budget = chunking.plan_chunks(
            selected, max_tokens=chunk_budget(pr), max_calls=settings.LLM_MAX_CALLS
        )
    with timings("llm"):
        answers = ask_model(llm, pr, chunks)
    failed = [(chunk, answer) for chunk, answer in answers if isinstance(answer, LLMError)]
    if failed and len(failed) == len(answers):
        raise failed[0][1]  # nothing was reviewed: the review failed, never a clean one
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
    redacted.update((file.path, file) for file in redact_files(rest)[0])
    shown = [redacted[file.path] for file in files]
    return ReviewResult(
        summary=_summary(outputs, len(chunks), plan),
        findings=tuple(anchor(merge([*secret_findings, *_model_findings(outputs)]), shown)),
        coverage=replace(coverage, scope=_scope(plan, files)),
        usage=_usage(outputs),
        timings=timings.seconds,
        changed_lines=plan.changed_lines if plan is not None and plan.incremental else None,
        new_side=new_side(shown),
    )


# --- Pushes: what the new commits changed since the last review -------------------------


def _is_push(analysis: Analysis) -> bool:
    """New commits on a pull request, as GitHub announced them (not a re-run, not an operator)."""
    return analysis.event == "pull_request" and analysis.action == "synchronize"


def plan_review(
    github: GitHubClient, pr: PullRequest, previous: Analysis | None
) -> incremental.PushPlan | None:
    """How to review this head: None for a first review, else a full or incremental plan.

    GitHub's comparison is only asked for when the base did not move and REVIEW_ON_PUSH
    wants incremental reviews. A comparison GitHub refuses (the last reviewed head was
    force-pushed away and collected: 404) means a full review; a transient failure retries.
    """
    if previous is None:
        return None
    if settings.REVIEW_ON_PUSH == "full":
        return incremental.PushPlan(
            incremental.FULL,
            "REVIEW_ON_PUSH is full",
            last_reviewed_head=previous.head_sha,
            head=pr.head_sha,
        )
    complete = not any(
        item.reason in INCOMPLETE_REASONS for item in previous.result.coverage.skipped
    )
    comparison = None
    if complete and previous.base_sha and previous.base_sha == pr.base_sha:
        try:
            comparison = github.compare(pr.repo_full_name, previous.head_sha, pr.head_sha)
        except GitHubError as exc:
            if not exc.permanent:
                raise
            logger.info("no comparison with the last review, reviewing in full: %s", exc)
    plan = incremental.plan_push(
        last_reviewed_head=previous.head_sha,
        last_reviewed_base=previous.base_sha,
        head=pr.head_sha,
        base=pr.base_sha,
        comparison=comparison,
        last_review_complete=complete,
    )
    logger.info(
        "push review pr=%s#%s mode=%s reason=%s",
        pr.repo_full_name,
        pr.number,
        plan.mode,
        plan.reason,
    )
    return plan


# Lines the last review should have read and did not: an incremental review would never
# read them, so it falls back to a full one.
INCOMPLETE_REASONS = frozenset({"over_call_budget", "model_error", "no_patch"})

PUSH_OFF = "REVIEW_ON_PUSH is off"


def _skip_push(analysis: Analysis, github: GitHubClient | None) -> None:
    """A push with REVIEW_ON_PUSH=off: skipped, and the head's status says not reviewed.

    Never `success`: a required prism/review check must not pass on commits nobody read.
    """
    if not services.analysis_finish(analysis_id=analysis.id, status=Status.SKIPPED, error=PUSH_OFF):
        return
    if github is not None:
        publish.report_not_reviewed(analysis, github, f"Not reviewed: {PUSH_OFF}")


def _scope(plan: incremental.PushPlan | None, files: list[parser.FileDiff]) -> Scope | None:
    if plan is None:
        return None
    if not plan.incremental:
        return Scope(
            mode=plan.mode,
            reason=plan.reason,
            base_sha=plan.last_reviewed_head,
            head_sha=plan.head,
            commits=plan.commits,
            files=len(files),
            lines=sum(file.changed_lines for file in files),
        )
    return Scope(
        mode=plan.mode,
        reason=plan.reason,
        base_sha=plan.last_reviewed_head,
        head_sha=plan.head,
        commits=plan.commits,
        files=plan.files,
        lines=plan.lines,
        unchanged=sum(1 for file in files if file.path not in plan.changed_lines),
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


def fetch_files(github: GitHubClient, repo: str, number: int) -> list[parser.FileDiff]:
    """The pull request's changes: the whole diff, or file by file when GitHub won't send it.

    GitHub refuses the diff media type beyond 300 files or 20,000 lines (docs/github-facts.md R2).
    """
    try:
        return parser.parse(github.get_diff(repo, number))
    except DiffTooLarge:
        logger.info("diff too large, reading files page by page repo=%s pr=%s", repo, number)
        return parser.from_github_files(github.list_files(repo, number))


def chunk_budget(pr: PullRequest) -> int:
    """Tokens left for the diff once the instructions and the PR's description are in."""
    frame = build_messages(pr_title=pr.title, pr_body=pr.body, chunk_text="", part=1, parts=1)
    overhead = sum(chunking.estimate_tokens(m["content"]) for m in frame)
    return max(1_000, settings.LLM_MAX_PROMPT_TOKENS - overhead)


def redact_files(
    files: list[parser.FileDiff],
) -> tuple[list[parser.FileDiff], list[Finding]]:
    """Replace credentials in every line sent to the model; report each added one as a finding.

    The model is a third party: a token pasted into a diff must not travel there. One on
    an added line is also exactly what a reviewer should flag.

    A hunk is read as the two texts it shows, not line by line: the new side (context and
    added lines) and the old side (context and removed lines). A private key is many
    lines and only its first one says so; read alone, each base64 line of its body looks
    like nothing and would be sent.
    """
    clean_files, leaks = [], []
    for file in files:
        hunks = []
        for hunk in file.hunks:
            spans, file_leaks = _hunk_secrets(hunk)
            leaks += [
                _secret_finding(file.path, first, last, kinds) for first, last, kinds in file_leaks
            ]
            lines = tuple(
                replace(line, text=redaction.replace_spans(line.text, spans[i]))
                if spans[i]
                else line
                for i, line in enumerate(hunk.lines)
            )
            hunks.append(replace(hunk, lines=lines))
        clean_files.append(replace(file, hunks=tuple(hunks)))
    return clean_files, leaks


def _hunk_secrets(
    hunk: parser.Hunk,
) -> tuple[list[list[tuple[int, int, str]]], list[tuple[int, int, list[str]]]]:
    """Per line of the hunk, the spans to redact; and each run of added lines that holds a
    secret, as (first new line number, last new line number, kinds)."""
    spans: list[list[tuple[int, int, str]]] = [[] for _ in hunk.lines]
    leaked: dict[tuple[int, int], list[str]] = {}
    for side in ("+", "-"):
        shown = [i for i, line in enumerate(hunk.lines) if line.kind in (" ", side)]
        for secret in redaction.find_secrets_in_texts([hunk.lines[i].text for i in shown]):
            for index, start, end in secret.spans:
                spans[shown[index]].append((start, end, secret.kind))
            # Every line the secret runs over, blank ones too (PGP armour has one).
            lines = [hunk.lines[shown[index]] for index in secret.texts]
            added = [line.new_lineno for line in lines if line.kind == "+" and line.new_lineno]
            # One finding per run of consecutive added lines of the secret, on the first one:
            # a key whose body is context between two changed lines is two leaks, not one.
            for first, last in _runs(added):
                leaked.setdefault((first, last), [])
                if secret.kind not in leaked[(first, last)]:
                    leaked[(first, last)].append(secret.kind)
    return spans, [(first, last, kinds) for (first, last), kinds in leaked.items()]


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


def _secret_finding(path: str, line: int, end_line: int, kinds: list[str]) -> Finding:
    what = ", ".join(kinds)
    return Finding(
        path=path,
        line=line,
        end_line=end_line if end_line > line else None,
        category="security",
        severity="critical",
        title=f"Credential committed in the change ({what})",
        body=(
            f"This change adds what looks like a secret ({what}). Prism redacted it before the "
            "review; treat it as leaked: revoke it, and load it from the environment or a "
            "secret store instead."
        ),
    )


def ask_model(
    llm: LLMClient, pr: PullRequest, chunks: list[chunking.Chunk]
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
        )
        try:
            return llm.review(messages)
        except LLMError as exc:
            if not exc.permanent:
                raise
            return exc

    workers = min(settings.LLM_CONCURRENCY, len(chunks))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prism-llm") as pool:
        answers = list(pool.map(review, enumerate(chunks)))
    return list(zip(chunks, answers, strict=True))


def _model_findings(outputs: list[ReviewOutput]) -> Iterator[Finding]:
    for output in outputs:
        yield from output.findings


def merge(found: list[Finding]) -> list[Finding]:
    """One finding per (file, line, category, title): chunks and the redactor may repeat."""
    kept: dict[tuple, Finding] = {}
    for finding in found:
        key = (finding.path, finding.line, finding.category, results.same_title(finding.title))
        current = kept.get(key)
        if current is None or finding.rank > current.rank:
            kept[key] = finding
    return results.most_severe_first(kept.values())


def new_side(files: list[parser.FileDiff]) -> results.NewSide:
    """Each file's new side as the diff shows it: context and added lines, per hunk."""
    return results.NewSide(
        {
            file.path: tuple(
                (
                    hunk.new_start,
                    tuple(results.same_code(ln.text) for ln in hunk.lines if ln.kind != "-"),
                )
                for hunk in file.hunks
                if hunk.new_count
            )
            for file in files
            if file.new_path is not None  # a removed file has no new side to anchor on
        }
    )


def anchor(found: list[Finding], files: list[parser.FileDiff]) -> list[Finding]:
    """Mark each finding anchored when GitHub would accept a comment on its line, and give
    it the text of its lines (its identity across pushes, see `results.finding_fingerprint`).

    A finding off the diff is kept (the summary still shows it) but never posted inline,
    where it would make GitHub reject the whole review (docs/github-facts.md C4).
    """
    by_path = {file.path: file for file in files}
    shown = new_side(files)
    anchored = []
    for finding in found:
        file = by_path.get(finding.path)
        line, end_line = finding.line, finding.end_line
        ok = file is not None and line > 0 and file.commentable(line)
        if not (
            ok
            and file is not None
            and end_line is not None
            and end_line > line
            and _same_hunk(file, line, end_line)
        ):
            end_line = None
        text = shown.text(finding.path, line, end_line) if ok else ""
        anchored.append(replace(finding, end_line=end_line, anchored=ok, anchor_text=text))
    return anchored


def _same_hunk(file: parser.FileDiff, start: int, end: int) -> bool:
    return any(first <= start and end <= last for first, last in file.right_ranges)


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


def _usage(outputs: list[ReviewOutput]) -> Usage:
    costs = [o.cost for o in outputs if o.cost is not None]
    return Usage(
        model=outputs[0].model if outputs else settings.LLM_MODEL,
        prompt_tokens=sum(o.prompt_tokens for o in outputs),
        completion_tokens=sum(o.completion_tokens for o in outputs),
        cost=round(sum(costs), 6) if costs else None,
        calls=sum(o.calls for o in outputs),
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
