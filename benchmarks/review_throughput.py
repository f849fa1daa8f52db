"""A burst of pull requests through the whole stack: how fast they are reviewed and posted.

    .venv/bin/python benchmarks/review_throughput.py [--pulls 200] [--latency 5] [--runs 3]
        [--post-wait 150] [--worker-args "--concurrency 8"] [--pool prefork]

Starts Prism as docker-compose.yml runs it (gunicorn, the Celery worker with its default
pool and concurrency, beat) on a scratch PostgreSQL database (BENCH_DATABASE, default
`prism_bench_throughput`, on BENCH_POSTGRES's server) and a Redis database (BENCH_REDIS,
flushed at each start: give it one of your own), against the end-to-end suite's stand-ins:
a GitHub serving `--pulls` small pull requests built from the real diffs in
tests/fixtures/github/diffs, and a model that answers every call after `--latency` seconds.
All the `opened` deliveries arrive at once.

Prints, per run and as medians over the runs: the time until every review is reviewed
(completed, findings stored) and until every review is fully posted (summary comment,
inline comments, final status), reviews in flight over time, the worker's peak RSS (its
process and children) and CPU, the most content-creating requests any GitHub identity made
in a 60-second window (as the stand-in saw them arrive), and whether anything was lost or
posted twice. With one token (this Prism has one identity), GitHub's 80 writes a minute and
500 an hour bound the posting, not the worker: see the README's "Running at scale".
"""

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import new_secrets, prism_env  # noqa: E402
from tests.e2e.fake_github import FakeGitHub  # noqa: E402
from tests.e2e.fake_llm import FakeLLM  # noqa: E402
from tests.e2e.helpers import Stack, needle, pull_request_event, sha  # noqa: E402
from tests.e2e.processes import BIN, Database, Prism, children  # noqa: E402
from tests.fixtures import diff_text  # noqa: E402

PG = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15")
DATABASE = os.environ.get("BENCH_DATABASE", "prism_bench_throughput")
# Small, real diffs with added lines for the model to read.
DIFFS = [
    "01-plain-modification",
    "02-new-file",
    "05-rename-with-change",
    "09-mode-change-with-content",
    "10-no-newline-old-side",
    "11b-no-newline-both-sides",
    "12-multiple-hunks",
    "13-non-ascii-cjk",
    "14-non-ascii-emoji",
]
SAMPLE_SECONDS = 0.5
COMMENT_POSTS = r"/repos/bench/pr\d+/issues/1/comments"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    reviewed: float | None = None  # seconds from the first delivery to all completed
    posted: float | None = None  # ... to all fully posted
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    max_window_writes: int = 0
    writes: int = 0
    posted_count: int = 0
    problems: list[str] = field(default_factory=list)
    shown: float | None = None  # ... to every summary comment on its pull request
    timeline: list[tuple[float, int, int, int, int]] = field(default_factory=list)


def tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children(current))
    return found


def rss_and_cpu(pids: list[int]) -> tuple[int, float]:
    rss, cpu = 0, 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # it exited meanwhile
        rss += pages * PAGE
        cpu += (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return rss, cpu


def one_run(args: argparse.Namespace) -> Run:
    run = Run()
    log_dir = Path(tempfile.mkdtemp(prefix="prism-bench-throughput-"))
    keys = new_secrets()
    github, llm = FakeGitHub(keys.github_token).start(), FakeLLM(keys.llm_key).start()
    llm.latency = args.latency
    db = Database(f"{PG}/postgres", DATABASE)
    db.create()
    redis.Redis.from_url(REDIS).flushdb()
    env = prism_env(keys, github, llm, database_url=db.url, broker_url=REDIS)
    for relaxed in ("GITHUB_WRITES_PER_MINUTE", "GITHUB_WRITES_PER_HOUR"):
        env.pop(relaxed)  # GitHub's own numbers, as deployed
    env.pop("GITHUB_WRITE_INTERVAL_SECONDS")
    # Production's lease and sweep, and a read timeout above the model's latency.
    env.update(
        REVIEW_LEASE_SECONDS="900",
        SWEEP_INTERVAL_SECONDS="60",
        LLM_READ_TIMEOUT_SECONDS="60",
        LOG_LEVEL="WARNING",
    )
    env["WORKER_POOL"] = args.pool  # Celery lets the setting win over `worker --pool`
    worker_args = None
    if args.worker_args:
        worker_args = [str(BIN / "celery"), "-A", "prism", "worker", "-l", "info"]
        worker_args += shlex.split(args.worker_args)
    prism = Prism(env, log_dir, worker_args=worker_args)
    stack = Stack(github, llm, prism, db, None, keys, log_dir, [])
    try:
        prism.start()
        _burst(args, stack, run)
    finally:
        prism.stop()
        github.stop()
        llm.stop()
        db.drop()
    return run


def _burst(args: argparse.Namespace, stack: Stack, run: Run) -> None:
    repos = [f"bench/pr{n:03d}" for n in range(args.pulls)]
    bodies = []
    for index, repo in enumerate(repos):
        head, title = sha(f"{repo}@1"), needle(repo, 1)
        diff = diff_text(DIFFS[index % len(DIFFS)])
        stack.github.open_pull(repo, 1, head_sha=head, diff=diff, title=title)
        bodies.append(pull_request_event("opened", repo, 1, head, title))
    worker = stack.prism.worker.pid
    _, cpu_before = rss_and_cpu(tree(worker))
    started = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        codes = Counter(
            pool.map(lambda b: stack.deliver(b, delivery_id=str(uuid.uuid4())).status_code, bodies)
        )
    if codes != {202: args.pulls}:
        run.problems.append(f"deliveries answered {dict(codes)}")

    deadline = started + args.drain_wait
    while time.monotonic() < deadline:
        elapsed = time.monotonic() - started
        rows = stack.db.rows(
            "SELECT status, count(*) AS n, "
            "count(*) FILTER (WHERE comment_posted_at IS NOT NULL AND publish_due_at IS NULL "
            "AND comment_error = '') AS posted FROM reviews_analysis GROUP BY status"
        )
        by_status = {r["status"]: r["n"] for r in rows}
        posted = sum(r["posted"] for r in rows)
        rss, _ = rss_and_cpu(tree(worker))
        run.peak_rss_mb = max(run.peak_rss_mb, rss / 2**20)
        shown = sum(1 for r in stack.github.calls("POST", COMMENT_POSTS) if r.status == 201)
        if run.shown is None and shown >= args.pulls:
            run.shown = elapsed
        run.timeline.append(
            (elapsed, by_status.get("running", 0), by_status.get("completed", 0), shown, posted)
        )
        done = by_status.get("completed", 0) + by_status.get("failed", 0)
        if run.reviewed is None and done >= args.pulls:
            run.reviewed = elapsed
            _, cpu_after = rss_and_cpu(tree(worker))
            run.cpu_seconds = cpu_after - cpu_before
            deadline = min(deadline, started + elapsed + args.post_wait)
        if posted >= args.pulls:
            run.posted = elapsed
            break
        time.sleep(SAMPLE_SECONDS)
    if run.reviewed is None:
        _, cpu_after = rss_and_cpu(tree(worker))
        run.cpu_seconds = cpu_after - cpu_before
    run.posted_count = run.timeline[-1][4] if run.timeline else 0
    _check(stack, repos, run)


def _check(stack: Stack, repos: list[str], run: Run) -> None:
    """Nothing lost, nothing posted twice, no identity over GitHub's 80 a minute."""
    rows = stack.db.rows("SELECT repo_full_name, status, error FROM reviews_analysis")
    if len(rows) != len(repos):
        run.problems.append(f"{len(rows)} analyses for {len(repos)} deliveries")
    failed = [r for r in rows if r["status"] != "completed"]
    if failed:
        run.problems.append(f"{len(failed)} not completed, e.g. {failed[0]}")
    github = stack.github
    created = Counter(
        r.path.split("/issues/")[0] for r in github.calls("POST", COMMENT_POSTS) if r.status == 201
    )
    reviews = Counter(
        r.path.split("/pulls/")[0]
        for r in github.calls("POST", r"/repos/bench/pr\d+/pulls/1/reviews")
        if r.status == 200
    )
    twice = [p for p, n in (created + reviews).items() if n > 2 or created[p] > 1 or reviews[p] > 1]
    if twice:
        run.problems.append(f"posted twice: {twice[:3]}")
    finals = sum(
        1 for repo in repos if {"success", "failure"} & set(github.statuses(repo, sha(f"{repo}@1")))
    )
    if run.posted is not None and finals != len(repos):
        run.problems.append(f"{finals} final statuses for {len(repos)} posted reviews")
    windows = github.max_writes_in_window(60.0)
    run.max_window_writes = max(windows.values(), default=0)
    if run.max_window_writes > 80:
        run.problems.append(f"{run.max_window_writes} writes in one 60 s window")
    with github.lock:
        run.writes = sum(1 for r in github.requests if r.creates_content)


def report(index: int, run: Run) -> None:
    def seconds(value: float | None) -> str:
        return f"{value:.1f} s" if value is not None else "not reached"

    print(
        f"run {index}: reviewed {seconds(run.reviewed)}, every summary comment shown "
        f"{seconds(run.shown)}, fully posted {seconds(run.posted)}"
    )
    print(
        f"  worker peak RSS {run.peak_rss_mb:.0f} MB, CPU {run.cpu_seconds:.1f} s until reviewed; "
        f"{run.writes} writes, at most {run.max_window_writes} in any 60 s window"
    )
    step, shown = 5.0, -5.0
    line = []
    for elapsed, running, completed, comments, posted in run.timeline:
        if elapsed - shown >= step:
            line.append(f"{elapsed:.0f}s:{running}/{completed}/{comments}/{posted}")
            shown = elapsed
    print("  in flight/reviewed/summary shown/fully posted: " + " ".join(line))
    print(f"  problems: {'; '.join(run.problems) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pulls", type=int, default=200, help="pull requests in the burst")
    parser.add_argument("--latency", type=float, default=5.0, help="seconds per model call")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are printed")
    parser.add_argument(
        "--drain-wait", type=float, default=600, help="give up on reviewing after this long"
    )
    parser.add_argument(
        "--post-wait", type=float, default=150, help="watch posting this long after reviewing"
    )
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork"])
    parser.add_argument("--worker-args", default="", help='another worker shape: "-c 8"')
    args = parser.parse_args()
    print(
        f"{args.pulls} pull requests at once, model {args.latency:.0f} s per call, worker "
        f"{args.pool} {args.worker_args or 'as docker-compose.yml runs it'}, "
        f"{os.cpu_count()} cores"
    )
    runs = []
    for index in range(1, args.runs + 1):
        runs.append(one_run(args))
        report(index, runs[-1])

    def median(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        if len(known) < len(values):
            return f"not reached in {len(values) - len(known)} of {len(values)} runs"
        return f"{statistics.median(known):.1f}"

    print(
        f"median over {len(runs)} runs: reviewed {median([r.reviewed for r in runs])} s, "
        f"summary shown {median([r.shown for r in runs])} s, "
        f"fully posted {median([r.posted for r in runs])} s "
        f"(posted within the watch: {median([float(r.posted_count) for r in runs])}), "
        f"peak RSS {median([r.peak_rss_mb for r in runs])} MB, "
        f"CPU {median([r.cpu_seconds for r in runs])} s, "
        f"max writes per 60 s {median([float(r.max_window_writes) for r in runs])}, "
        f"runs with problems: {sum(1 for r in runs if r.problems)}"
    )


if __name__ == "__main__":
    main()
