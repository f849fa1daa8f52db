"""Time the diff pipeline on every fixture diff: .venv/bin/python benchmarks/diff_pipeline.py

For each diff: parse, select_files, plan_chunks(max_tokens=24000, max_calls=20) including
rendering every chunk's text (what the LLM client sends), and a commentable check on every
added line. Each stage is timed RUNS times on fresh objects and the median is printed.
"""

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from reviews.diffs.chunking import plan_chunks  # noqa: E402
from reviews.diffs.file_filter import select_files  # noqa: E402
from reviews.diffs.parser import parse  # noqa: E402
from tests.fixtures import diff_names, diff_text  # noqa: E402

RUNS = 7
MAX_TOKENS = 24000
MAX_CALLS = 20
HUGE = "24-very-large-release-range"
TARGET_MS = 1000


def run_once(text: str) -> tuple[dict[str, float], dict[str, Any]]:
    """One pass through the pipeline: milliseconds per stage, and what it produced."""
    times: dict[str, float] = {}

    def timed(stage: str, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = call()
        times[stage] = (time.perf_counter() - start) * 1000
        return result

    files = timed("parse", lambda: parse(text))
    reviewed, _ = timed("select", lambda: select_files(files))
    chunks, over = timed(
        "plan", lambda: plan_chunks(reviewed, max_tokens=MAX_TOKENS, max_calls=MAX_CALLS)
    )
    timed("render", lambda: [chunk.text for chunk in chunks])
    timed("commentable", lambda: all(f.commentable(n) for f in files for n in f.added_lines))
    times["total"] = sum(times.values())
    return times, {"files": files, "reviewed": reviewed, "chunks": chunks, "over": over}


def coverage(outcome: dict[str, Any]) -> tuple[int, int]:
    """Reviewable changed lines that made it into a chunk, and all reviewable changed lines."""
    chunked = sum(chunk.changed_lines for chunk in outcome["chunks"])
    return chunked, sum(f.changed_lines for f in outcome["reviewed"])


def main() -> None:
    stages = ["parse", "select", "plan", "render", "commentable", "total"]
    print(f"median of {RUNS} runs, ms; plan_chunks(max_tokens={MAX_TOKENS}, max_calls={MAX_CALLS})")
    print(f"{'diff':<32}{'KB':>7}{'files':>6}{'chunks':>7}" + "".join(f"{s:>12}" for s in stages))
    medians: dict[str, dict[str, float]] = {}
    outcomes: dict[str, dict[str, Any]] = {}
    for name in diff_names():
        text = diff_text(name)
        runs = [run_once(text) for _ in range(RUNS)]
        medians[name] = {s: statistics.median(times[s] for times, _ in runs) for s in stages}
        outcomes[name] = outcome = runs[-1][1]
        size = f"{len(text.encode()) / 1024:>7.0f}{len(outcome['files']):>6}"
        row = "".join(f"{medians[name][s]:>12.2f}" for s in stages)
        print(f"{name:<32}{size}{len(outcome['chunks']):>7}{row}")
    total = medians[HUGE]["total"]
    chunked, reviewable = coverage(outcomes[HUGE])
    verdict = "under" if total < TARGET_MS else "OVER"
    print(f"\n{HUGE}: {total:.1f} ms median ({verdict} the {TARGET_MS} ms target)")
    print(
        f"coverage: {chunked}/{reviewable} reviewable changed lines in "
        f"{len(outcomes[HUGE]['chunks'])} chunks = {100 * chunked / reviewable:.1f}%"
    )


if __name__ == "__main__":
    main()
