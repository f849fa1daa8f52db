"""One way to make review results in tests: the types of reviews/results.py, and their JSON.

- `finding()`: a typed `Finding`, as the pipeline hands it on (nothing is normalised, so a
  test can build a hostile one);
- `review_result()`: a typed `ReviewResult` holding findings;
- `feedback()`: what `Analysis.feedback` stores, `review_result(...).to_json()`;
- `answer_finding()`: one finding as the model answers it (the findings schema: no `anchored`).
"""

from dataclasses import replace
from typing import Any

from reviews.results import Coverage, Finding, ReviewResult, Skipped, Usage


def finding(path: str = "src/app.py", line: int = 10, **fields: Any) -> Finding:
    """A finding on a line of the diff; override any field."""
    defaults = Finding(
        path=path,
        line=line,
        category="bug",
        severity="medium",
        title="Off-by-one in the loop bound",
        body="The loop skips the last element.",
        anchored=True,
    )
    return replace(defaults, **fields)


def coverage(**fields: Any) -> Coverage:
    """Three files, one of them a lockfile left out; override any field."""
    defaults = Coverage(
        files_total=3,
        files_reviewed=2,
        lines_total=120,
        lines_reviewed=100,
        skipped=(Skipped("poetry.lock", "lockfile", 20),),
    )
    return replace(defaults, **fields)


def usage(**fields: Any) -> Usage:
    defaults = Usage(
        model="openai/gpt-4o-mini", prompt_tokens=1200, completion_tokens=300, cost=0.0021, calls=1
    )
    return replace(defaults, **fields)


def review_result(*findings: Finding, **fields: Any) -> ReviewResult:
    """A completed review holding `findings`; override the summary, coverage, usage, timings."""
    defaults = ReviewResult(
        summary="Two small problems.",
        findings=tuple(findings),
        coverage=coverage(),
        usage=usage(),
        timings={"fetch": 0.4, "parse": 0.01, "llm": 7.5},
    )
    return replace(defaults, **fields)


def feedback(*findings: Finding, **fields: Any) -> dict[str, Any]:
    """A completed review's feedback as `Analysis.feedback` stores it."""
    return review_result(*findings, **fields).to_json()


def answer_finding(path: str, line: int, **fields: Any) -> dict[str, Any]:
    """A finding as the model answers it, for stand-ins of the LLM."""
    answer = finding(path, line, **fields).to_json()
    del answer["anchored"]  # the pipeline decides that, never the model
    return answer
