"""Server render time of the operator's admin pages with 10,000 analyses stored.

    .venv/bin/python benchmarks/admin_pages.py [--analyses 10000] [--requests 30]

With DATABASE_URL pointing at PostgreSQL, a scratch database `<its name>_admin_bench` is
created beside it (and dropped after); without, a temporary SQLite file. It stores analyses
over 30 days and 40 repositories (completed with findings in the ledger, failed, skipped,
re-runs of the same head), then renders through the Django test client, logged in as a
superuser: the review list, the list filtered by posting problems, an analysis with 39
findings, a failed analysis, the overview and the admin home. Target: p99 under 200 ms each.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support import drop, scratch_database  # noqa: E402

TARGET_MS = 200


def store(count: int) -> tuple[int, int]:
    """Store `count` analyses; (the id of one with 39 findings, the id of a failed one)."""
    from django.utils import timezone

    from reviews import ledger
    from reviews.models import Analysis
    from reviews.results import (
        CATEGORIES,
        SEVERITIES,
        Coverage,
        Finding,
        ReviewResult,
        Usage,
    )

    rng = random.Random(17)
    now = timezone.now()
    statuses = ["completed"] * 7 + ["failed", "skipped", "superseded"]
    posting_error = "inline comments: 422"

    def findings(n: int, seed: int) -> tuple[Finding, ...]:
        return tuple(
            Finding(
                path=f"src/module_{(seed + i) % 23}.py",
                line=987654 if i % 4 == 3 else 10 + i,
                category=CATEGORIES[(seed + i) % 4],
                severity=SEVERITIES[(seed * 7 + i) % 4],
                title=f"Finding {seed}-{i}",
                body="Something to look at. " * 6,
                anchored=i % 4 != 3,
                anchor_text="" if i % 4 == 3 else f"line {seed} {i}",
            )
            for i in range(n)
        )

    rows = []
    for i in range(count):
        status = rng.choice(statuses)
        created = now - timedelta(minutes=rng.randrange(30 * 24 * 60))
        result = ReviewResult(
            summary="Looks mostly fine.",
            findings=findings(rng.randrange(6), i) if status == "completed" else (),
            coverage=Coverage(
                files_total=12, files_reviewed=11, lines_total=400, lines_reviewed=380
            ),
            usage=Usage(model="openai/gpt-4o-mini", prompt_tokens=9000, completion_tokens=700),
        )
        rows.append(
            Analysis(
                repo_full_name=f"octo/repo-{i % 40}",
                pr_number=1 + i // 40,
                pr_title=f"Change {i}",
                pr_url=f"https://github.com/octo/repo-{i % 40}/pull/{1 + i // 40}",
                head_sha=f"{i // 2:040x}",  # every second analysis re-runs the head before it
                event="pull_request" if i % 2 == 0 else "manual",
                status=status,
                error="the LLM provider is unavailable: 502" if status == "failed" else "",
                feedback=result.to_json() if status == "completed" else {},
                llm_model=rng.choice(["openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5"]),
                prompt_tokens=9000,
                completion_tokens=700,
                cost=Decimal("0.0042"),
                comment_error=posting_error if status == "completed" and i % 9 == 0 else "",
                started_at=created,
                finished_at=created + timedelta(seconds=rng.uniform(3, 120)),
            )
        )
    stored = Analysis.objects.bulk_create(rows, batch_size=1000)
    # created_at is auto_now_add: spread it over the month afterwards.
    for analysis in stored:
        analysis.created_at = analysis.started_at or now
    Analysis.objects.bulk_update(stored, ["created_at"], batch_size=1000)
    # The ledger for the completed ones, as the pipeline leaves it.
    for analysis in stored:
        if analysis.status == "completed" and analysis.feedback.get("findings"):
            ledger.findings_record(analysis=analysis, result=analysis.result)
    large = stored[0]
    large.status = "completed"
    large.feedback = ReviewResult(summary="Part 1: x", findings=findings(39, 0)).to_json()
    large.save()
    ledger.findings_record(analysis=large, result=large.result)
    failed = next(a for a in stored if a.status == "failed")
    return large.id, failed.id


def measure(pages: dict[str, str], requests: int) -> dict[str, list[float]]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    client = Client()
    client.force_login(user)
    times: dict[str, list[float]] = {}
    for name, url in pages.items():
        for _ in range(3):  # warm up: templates, connections
            client.get(url)
        times[name] = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(url)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
    return times


def profile(url: str) -> None:
    """PRISM_BENCH_PROFILE=overview: where one render of that page spends its time."""
    import cProfile
    import pstats

    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("profiler"))
    client.get(url)
    profiler = cProfile.Profile()
    profiler.runcall(client.get, url)
    pstats.Stats(profiler).sort_stats("cumulative").sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--analyses", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()

    given = os.environ.get("DATABASE_URL", "")
    server = ""
    if given.startswith(("postgres://", "postgresql://")):
        url, server = scratch_database(given, "admin_bench")
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/admin_bench.sqlite3"
    os.environ.update(
        PRISM_ENV_FILE="/nonexistent",
        SECRET_KEY="bench",
        DEBUG="true",  # plain static storage: nothing collected for a benchmark
        DATABASE_URL=url,
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prism.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        large, failed = store(args.analyses)
        stored = time.perf_counter() - started
        changelist = "/admin/reviews/analysis/"
        pages = {
            "list": changelist,
            "list, posting problems": f"{changelist}?posting=failed",
            "analysis, 39 findings": f"{changelist}{large}/change/",
            "analysis, failed": f"{changelist}{failed}/change/",
            "overview": f"{changelist}overview/",
            "admin home": "/admin/",
        }
        if os.environ.get("PRISM_BENCH_PROFILE"):
            profile(pages[os.environ["PRISM_BENCH_PROFILE"]])
        times = measure(pages, args.requests)
        print(f"database: {connection.vendor}; stored {args.analyses:,} analyses in {stored:.1f} s")
        worst = 0.0
        for name, samples in times.items():
            p50 = statistics.median(samples)
            p99 = statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else samples[0]
            worst = max(worst, p99)
            print(f"  {name:<24} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
        verdict = "met" if worst < TARGET_MS else "MISSED"
        print(f"  target p99 < {TARGET_MS} ms on every page: {verdict}")
    finally:
        connection.close()
        if server:
            drop(server, url)


if __name__ == "__main__":
    main()
