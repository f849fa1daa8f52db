"""A burst of pull requests through the whole stack: how fast they are reviewed and posted.

    .venv/bin/python benchmarks/review_throughput.py [--pulls 200] [--latency 5] [--runs 3]
        [--post-wait 150] [--worker-args "--concurrency 8"] [--pool prefork] [--installations 8]

Starts Prism as docker-compose.yml runs it (gunicorn, the Celery worker with its default
pool and concurrency, beat) on a scratch PostgreSQL database (BENCH_DATABASE, default
`prism_bench_throughput`, on BENCH_POSTGRES's server) and a Redis database (BENCH_REDIS,
flushed at each start: give it one of your own; BENCH_CACHE_REDIS, when set, is Prism's
CACHE_URL, flushed too), against the end-to-end suite's stand-ins: a GitHub serving
`--pulls` small pull requests built from the real diffs in tests/fixtures/github/diffs, and
a model that answers every call after `--latency` seconds. All the `opened` deliveries
arrive at once.

By default Prism has one personal token. `--installations N` runs it as a GitHub App
instead (a freshly generated RSA key, the App-mode stand-in that checks its JWTs and issues
installation tokens): the pull requests are spread over N organisations, each its own
installation, announced by the signed `installation.created` delivery before the burst.

Prints, per run and as medians over the runs: the time until every review is reviewed
(completed, findings stored) and until every review is fully posted (summary comment,
inline comments, and the final commit status, or in App mode, where POST_COMMIT_STATUS
defaults off, the check run completed with its conclusion), reviews in flight over time,
the worker's peak RSS (its process and children) and CPU, the most content-creating
requests any GitHub identity made in a 60-second window (as the stand-in saw them arrive:
per token, or per installation in App mode, whatever token it held), and whether anything
was lost or posted twice. With one token GitHub's 80 writes a minute and 500 an hour bound
the posting, not the worker: see the README's "Running at scale".
"""

import argparse
import os
import re
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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.app_mode import for_installation, install  # noqa: E402
from tests.e2e.conftest import new_secrets, prism_env  # noqa: E402
from tests.e2e.fake_github import FakeGitHub, Request  # noqa: E402
from tests.e2e.fake_github_app import FakeGitHubApp  # noqa: E402
from tests.e2e.fake_llm import FakeLLM  # noqa: E402
from tests.e2e.helpers import Stack, needle, pull_request_event, sha  # noqa: E402
from tests.e2e.processes import BIN, Database, Prism, children  # noqa: E402
from tests.fixtures import diff_text  # noqa: E402

PG = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15")
DATABASE = os.environ.get("BENCH_DATABASE", "prism_bench_throughput")
CACHE = os.environ.get("BENCH_CACHE_REDIS", "")
APP_ID = 4343
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
COMMENT_POSTS = r"/repos/[^/]+/pr\d+/issues/1/comments"
REVIEW_POSTS = r"/repos/[^/]+/pr\d+/pulls/1/reviews"
CHECK_RUN_POSTS = r"/repos/[^/]+/pr\d+/check-runs"
STATUS_POST = re.compile(r"/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{40})")
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
    finals: int = 0  # pull requests with their final status or completed check run
    windows: dict[str, int] = field(default_factory=dict)  # most writes in 60 s, per identity
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
    github = _app_github(args, log_dir) if args.installations else FakeGitHub(keys.github_token)
    github.start()
    llm = FakeLLM(keys.llm_key).start()
    llm.latency = args.latency
    db = Database(f"{PG}/postgres", DATABASE)
    db.create()
    redis.Redis.from_url(REDIS).flushdb()
    env = prism_env(keys, github, llm, database_url=db.url, broker_url=REDIS)
    if CACHE:
        redis.Redis.from_url(CACHE).flushdb()  # no window or token left by an earlier run
        env["CACHE_URL"] = CACHE
    if args.installations:
        env.update(
            GITHUB_APP_ID=str(APP_ID),
            GITHUB_APP_PRIVATE_KEY_FILE=str(log_dir / "app.pem"),
            GITHUB_TOKEN="",  # every write goes through an installation's token
        )
    for relaxed in ("GITHUB_WRITES_PER_MINUTE", "GITHUB_WRITES_PER_HOUR"):
        env.pop(relaxed)  # GitHub's own numbers, as deployed
    env.pop("GITHUB_WRITE_INTERVAL_SECONDS")
    # Production's lease and sweep, and a read timeout above the model's latency.
    env.update(
        REVIEW_LEASE_SECONDS="900",
        SWEEP_INTERVAL_SECONDS="60",
        LLM_READ_TIMEOUT_SECONDS="60",
        # INFO, not WARNING: the worker's " ready." line, which Prism.start waits for, is an
        # INFO record, and the worker logs through Django's LOGGING (prism/celery.py).
        LOG_LEVEL="INFO",
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


def _app_github(args: argparse.Namespace, log_dir: Path) -> FakeGitHubApp:
    """The App-mode stand-in, and the App's private key written where Prism reads it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_file = log_dir / "app.pem"
    key_file.write_bytes(pem)
    key_file.chmod(0o600)
    return FakeGitHubApp(app_id=APP_ID, slug="prism-bench", public_key=key.public_key())


def _repositories(args: argparse.Namespace) -> dict[str, tuple[int, int]]:
    """Each pull request's repository: (installation id, repository id), or (0, 0) with a
    personal token. Organisation i is installation 101 + i."""
    if not args.installations:
        return {f"bench/pr{n:03d}": (0, 0) for n in range(args.pulls)}
    repos: dict[str, tuple[int, int]] = {}
    for n in range(args.pulls):
        org = n % args.installations
        installation = 101 + org
        # The stand-in numbers an installation's repositories installation * 1000 + 1, 2, ...
        repos[f"org{org}/pr{n:03d}"] = (
            installation,
            installation * 1000 + n // args.installations + 1,
        )
    return repos


def _burst(args: argparse.Namespace, stack: Stack, run: Run) -> None:
    placed = _repositories(args)
    repos = list(placed)
    for installation in sorted({i for i, _ in placed.values() if i}):
        mine = {repo: rid for repo, (i, rid) in placed.items() if i == installation}
        install(stack, APP_ID, installation, f"org{installation - 101}", mine)
    bodies = []
    for index, repo in enumerate(repos):
        head, title = sha(f"{repo}@1"), needle(repo, 1)
        diff = diff_text(DIFFS[index % len(DIFFS)])
        stack.github.open_pull(repo, 1, head_sha=head, diff=diff, title=title)
        body = pull_request_event("opened", repo, 1, head, title)
        installation, repository_id = placed[repo]
        if installation:
            body = for_installation(body, installation, repository_id)
        bodies.append(body)
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
        # Recorded as posted, and the final status or check run there to see.
        posted = min(sum(r["posted"] for r in rows), _finals(stack.github, repos))
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


def _finals(github: FakeGitHub, repos: list[str]) -> int:
    """Pull requests whose head shows Prism's outcome: a final commit status, or (App
    mode) a completed check run with its conclusion. One pass: it runs every sample."""
    with github.lock:
        if isinstance(github, FakeGitHubApp):
            done = {
                (run["repo"], run["head_sha"])
                for run in github.check_runs.values()
                if run["status"] == "completed" and run["conclusion"]
            }
        else:
            done = {
                (match[1], match[2])
                for r in github.requests
                if r.method == "POST"
                and r.status < 300
                and (match := STATUS_POST.fullmatch(r.path))
                and r.json().get("state") in {"success", "failure"}
            }
    return sum(1 for repo in repos if (repo, sha(f"{repo}@1")) in done)


def _who(github: FakeGitHub, request: Request) -> str:
    """Whom GitHub counts a write against: its token, or in App mode its installation
    (whatever token it held); the App's own calls (installation tokens) are the App's."""
    if isinstance(github, FakeGitHubApp):
        installation = github.installation_of_request(request)
        return f"installation {installation}" if installation else "the App"
    return request.identity


def _max_writes_in_window(github: FakeGitHub, window: float = 60.0) -> dict[str, int]:
    """Per identity, the most content-creating requests that arrived in any `window` s."""
    with github.lock:
        writes = [(_who(github, r), r.at) for r in github.requests if r.creates_content]
    most: dict[str, int] = {}
    for who in {w for w, _ in writes}:
        times = sorted(at for w, at in writes if w == who)
        first = 0
        for last, at in enumerate(times):
            while at - times[first] >= window:
                first += 1
            most[who] = max(most.get(who, 0), last - first + 1)
    return most


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
        r.path.split("/pulls/")[0] for r in github.calls("POST", REVIEW_POSTS) if r.status == 200
    )
    runs = Counter(
        r.path.split("/check-runs")[0]
        for r in github.calls("POST", CHECK_RUN_POSTS)
        if r.status == 201
    )
    twice = [p for p in created + reviews + runs if max(created[p], reviews[p], runs[p]) > 1]
    if twice:
        run.problems.append(f"posted twice: {twice[:3]}")
    run.finals = _finals(github, repos)
    if run.posted is not None and run.finals != len(repos):
        outcome = "completed check runs" if isinstance(github, FakeGitHubApp) else "final statuses"
        run.problems.append(f"{run.finals} {outcome} for {len(repos)} pull requests")
    with github.lock:
        refused = Counter(
            r.status for r in github.requests if r.creates_content and r.status >= 400
        )
    if refused:
        run.problems.append(f"writes GitHub refused: {dict(refused)}")
    windows = _max_writes_in_window(github)
    run.max_window_writes = max(windows.values(), default=0)
    if run.max_window_writes > 80:
        run.problems.append(f"{run.max_window_writes} writes in one 60 s window")
    run.windows = windows
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
        f"{run.writes} writes, at most {run.max_window_writes} in any 60 s window "
        f"({len(run.windows)} identities: {sorted(run.windows.values(), reverse=True)})"
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
    parser.add_argument(
        "--installations",
        type=int,
        default=0,
        help="GitHub App mode: the pull requests spread over this many installations "
        "(default 0: one personal token)",
    )
    args = parser.parse_args()
    print(
        f"{args.pulls} pull requests at once, model {args.latency:.0f} s per call, worker "
        f"{args.pool} {args.worker_args or 'as docker-compose.yml runs it'}, "
        f"{os.cpu_count()} cores, "
        + (
            f"GitHub App over {args.installations} installations"
            if args.installations
            else "one personal token"
        )
    )
    print(f"load average at start: {os.getloadavg()}")
    runs = []
    for index in range(1, args.runs + 1):
        runs.append(one_run(args))
        report(index, runs[-1])
        print(f"  load average after: {os.getloadavg()}")

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
