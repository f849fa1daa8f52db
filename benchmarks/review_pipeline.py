"""The review pipeline's speed: .venv/bin/python benchmarks/review_pipeline.py [--rounds 3]

1. Parse, select, chunk and anchor every fixture diff (benchmarks/diff_pipeline.py).
2. A whole review of the 35,641-line `24-very-large-release-range.diff` (no GitHub: the
   diff is handed to the pipeline) against a local fake OpenAI-compatible server on
   127.0.0.1 that answers every call after 2 seconds. Prints the median wall time over the
   rounds, how many LLM round trips of wall time that is, the calls made, and the share of
   reviewable changed lines that reached the model.
   Targets: at least 95% of reviewable changed lines, in under 3 round trips (6 s).
"""

import argparse
import json
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support import setup_django_with_local_model  # noqa: E402

LATENCY = 2.0
HUGE = "24-very-large-release-range"


class SlowModel(BaseHTTPRequestHandler):
    """Answers every chat completion after LATENCY seconds, with no findings."""

    calls = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with SlowModel.lock:
            SlowModel.calls += 1
        time.sleep(LATENCY)
        content = json.dumps({"summary": "Reviewed.", "findings": []})
        body = json.dumps(
            {
                "model": "fake/slow",
                "choices": [
                    {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 20000, "completion_tokens": 20},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def whole_review(rounds: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    setup_django_with_local_model(server.server_port)
    from django.conf import settings

    from reviews.clients import llm_client
    from reviews.diffs import parser as diff
    from reviews.github.resources import PullRequest
    from reviews.pipeline import review
    from tests.fixtures import diff_text

    pr = PullRequest(
        repo_full_name="pallets/flask",
        number=1,
        head_sha="0" * 40,
        base_sha="1" * 40,
        title="Release 2.0.0",
        body="Everything between 1.0 and 2.0.0.",
        html_url="https://github.com/pallets/flask/pull/1",
        author="bench",
    )
    text = diff_text(HUGE)
    walls, result = [], None
    for _ in range(rounds):
        SlowModel.calls = 0
        started = time.perf_counter()
        files = diff.parse(text)
        result = review.review_files(files, pr=pr, llm=llm_client(), timings=review.Timings())
        walls.append(time.perf_counter() - started)
    server.shutdown()

    assert result is not None, "--rounds must be at least 1"
    coverage = result.coverage
    reviewable = coverage.lines_total - sum(
        s.lines for s in coverage.skipped if s.reason != "over_call_budget"
    )
    wall = statistics.median(walls)
    print(
        f"\nwhole review of {HUGE} against a fake LLM answering in {LATENCY:.0f} s "
        f"(LLM_CONCURRENCY={settings.LLM_CONCURRENCY}, LLM_MAX_CALLS={settings.LLM_MAX_CALLS}, "
        f"LLM_MAX_PROMPT_TOKENS={settings.LLM_MAX_PROMPT_TOKENS}), median of {rounds}:"
    )
    print(f"  wall time {wall:.2f} s = {wall / LATENCY:.2f} round trips; {SlowModel.calls} calls")
    print(
        f"  coverage: {coverage.lines_reviewed}/{reviewable} reviewable changed lines sent "
        f"to the model = {100 * coverage.lines_reviewed / reviewable:.1f}%; "
        f"{coverage.files_reviewed} of {coverage.files_total} files"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="whole reviews to time (median)")
    args = parser.parse_args()
    from benchmarks import diff_pipeline

    diff_pipeline.main()
    whole_review(args.rounds)


if __name__ == "__main__":
    main()
