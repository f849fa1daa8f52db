"""The check run "Prism review" (App mode): in progress while a review runs, then its
conclusion, title, summary, one annotation per anchored finding, and a "Re-run review" button.

GitHub takes at most 50 annotations a request and appends those of each update (the spec's
`output.annotations`), so a review with more completes the run with the first 50 and adds
the rest in further updates. Only GitHub Apps create check runs (docs/github-facts.md C6); in
personal-token mode the commit status carries the outcome instead.
"""

import logging

from django.conf import settings
from django.urls import reverse

from reviews import clients, services
from reviews.comments import check_run as texts
from reviews.comments import render
from reviews.github.client import MAX_ANNOTATIONS, GitHubClient
from reviews.models import Analysis, Finding
from reviews.results import ReviewResult, Standing

logger = logging.getLogger(__name__)

NAME = "Prism review"
RERUN = "rerun"  # the action's identifier, as check_run.requested_action deliveries carry it
RERUN_ACTION = {
    "label": "Re-run review",
    "description": "Review this commit again",
    "identifier": RERUN,
}


def enabled() -> bool:
    return clients.app_mode() and settings.POST_CHECK_RUNS


def details_url(analysis: Analysis) -> str:
    """The analysis in Prism's admin, when Prism knows where it is reachable."""
    if not settings.PRISM_PUBLIC_URL:
        return ""
    return settings.PRISM_PUBLIC_URL + reverse("admin:reviews_analysis_change", args=[analysis.id])


def start(analysis: Analysis, github: GitHubClient) -> None:
    """Create the review's check run, in progress. A review taken over from a dead worker
    keeps the run its first attempt created."""
    if analysis.check_run_id:
        return
    check_run_id = github.create_check_run(
        analysis.repo_full_name,
        name=NAME,
        head_sha=analysis.head_sha,
        external_id=str(analysis.id),
        details_url=details_url(analysis),
    )
    services.analysis_record_check_run(analysis_id=analysis.id, check_run_id=check_run_id)
    analysis.check_run_id = check_run_id


def complete(
    analysis: Analysis,
    github: GitHubClient,
    standing: Standing | None,
    comment_url: str = "",
    result: ReviewResult | None = None,
) -> None:
    """Complete the check run of a completed review, annotating every anchored open finding
    this review reported, at most MAX_ANNOTATIONS a request. `result`: the review as the pull
    request shows it (without findings dismissed since); else as it was stored."""
    result = result or analysis.result
    findings = list(standing.open if standing else result.findings)
    threshold = analysis.policy.get("fail_on_severity") or settings.FAIL_ON_SEVERITY
    output = {
        "title": texts.title(findings, result.coverage),
        "summary": texts.summary(
            headline=standing.headline if standing else "",
            model_summary=result.summary,
            comment_url=comment_url,
            hosts=_hosts(analysis),
        ),
    }
    notes = [texts.annotation(row.as_result()) for row in _annotated(analysis)]
    batches = [notes[i : i + MAX_ANNOTATIONS] for i in range(0, len(notes), MAX_ANNOTATIONS)]
    first, rest = (batches[0] if batches else []), batches[1:]
    conclusion = texts.conclusion(findings, result.coverage, threshold)
    _conclude(analysis, github, conclusion, {**output, "annotations": first})
    for batch in rest:
        github.update_check_run(
            analysis.repo_full_name,
            _id(analysis),
            output={**output, "annotations": batch},
        )


def not_reviewed(analysis: Analysis, github: GitHubClient, title: str, summary: str = "") -> None:
    """A head Prism did not review (paused, over budget, skipped by policy or on push, or a
    failure): `neutral`, never a success nor a failure, with the reason as its title."""
    output = {"title": title, "summary": texts.reason(summary or title, _hosts(analysis))}
    _conclude(analysis, github, "neutral", output)


def _conclude(analysis: Analysis, github: GitHubClient, conclusion: str, output: dict) -> None:
    """Complete the run; one that was never started (or whose start failed) is created
    completed, so the head always ends with Prism's conclusion."""
    if analysis.check_run_id:
        github.update_check_run(
            analysis.repo_full_name,
            analysis.check_run_id,
            conclusion=conclusion,
            output=output,
            actions=[RERUN_ACTION],
        )
        return
    check_run_id = github.create_check_run(
        analysis.repo_full_name,
        name=NAME,
        head_sha=analysis.head_sha,
        external_id=str(analysis.id),
        details_url=details_url(analysis),
        conclusion=conclusion,
        output=output,
        actions=[RERUN_ACTION],
    )
    services.analysis_record_check_run(analysis_id=analysis.id, check_run_id=check_run_id)
    analysis.check_run_id = check_run_id


def _annotated(analysis: Analysis) -> list[Finding]:
    rows = Finding.objects.filter(
        repo_full_name=analysis.repo_full_name,
        pr_number=analysis.pr_number,
        analyses=analysis,
        state=Finding.State.OPEN,
        anchored=True,
        line__gt=0,
    )
    return sorted(rows, key=lambda row: (-row.as_result().rank, row.path, row.line, row.id))


def _hosts(analysis: Analysis) -> frozenset[str]:
    return render.CommentContext(analysis.id, analysis.pull_request).hosts


def _id(analysis: Analysis) -> int:
    assert analysis.check_run_id is not None  # set by _conclude
    return analysis.check_run_id
