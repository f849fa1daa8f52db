"""`GET /api/findings/` over a ledger of 10,000 findings: p50/p99 of one filtered page.

    .venv/bin/python benchmarks/findings_api.py [--findings 10000] [--requests 300]

With DATABASE_URL pointing at PostgreSQL, a scratch database `<its name>_findings_bench` is
created beside it (and dropped after); without, a temporary SQLite file. It stores the
findings of 200 pull requests over 20 repositories in bulk (states and severities spread
like a real ledger), then asks, through the Django test client with a token, for the page a
dashboard would: one repository's open findings at high severity or above, 50 per page,
counted. Target: p99 under 50 ms.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.support import drop, scratch_database  # noqa: E402
from prism.bootstrap import PLAIN_HTTP  # noqa: E402

QUERY: dict[str, str | int] = {
    "repo": "octo/repo-3",
    "state": "open",
    "min_severity": "high",
    "limit": 50,
}


def store(findings: int) -> None:
    from reviews.models import Analysis, Finding
    from reviews.results import CATEGORIES, SEVERITIES

    rng = random.Random(7)
    prs = [(f"octo/repo-{i % 20}", 1 + i // 20) for i in range(200)]
    analyses = Analysis.objects.bulk_create(
        Analysis(
            repo_full_name=repo,
            pr_number=number,
            head_sha=f"{i:040x}",
            status="completed",
            event="pull_request",
            llm_model="openai/gpt-4o-mini",
        )
        for i, (repo, number) in enumerate(prs)
    )
    states = ["open"] * 5 + ["fixed"] * 3 + ["outdated", "dismissed"]
    rows = []
    for i in range(findings):
        analysis = analyses[i % len(analyses)]
        rows.append(
            Finding(
                repo_full_name=analysis.repo_full_name,
                pr_number=analysis.pr_number,
                fingerprint=f"{i:016x}",
                analysis=analysis,
                path=f"src/module_{i % 97}.py",
                line=1 + i % 400,
                category=rng.choice(CATEGORIES),
                severity=rng.choice(SEVERITIES),
                title=f"Finding {i}",
                body="Something to look at. " * 8,
                anchored=True,
                anchor_text="return compute(value)",
                state=rng.choice(states),
                first_seen_sha=analysis.head_sha,
                last_seen_sha=analysis.head_sha,
            )
        )
    created = Finding.objects.bulk_create(rows, batch_size=1000)
    Finding.analyses.through.objects.bulk_create(
        (Finding.analyses.through(finding_id=f.id, analysis_id=f.analysis_id) for f in created),
        batch_size=1000,
    )


def measure(requests: int) -> tuple[list[float], int]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from knox.models import AuthToken

    user = get_user_model().objects.create_user("bench")
    _, key = AuthToken.objects.create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    for _ in range(20):  # warm up: connections, caches, the query plan
        client.get("/api/findings/", QUERY)
    times = []
    count = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get("/api/findings/", QUERY)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:200]
        count = response.json()["count"]
    return times, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    given = os.environ.get("DATABASE_URL", "")
    server = ""
    if given.startswith(("postgres://", "postgresql://")):
        url, server = scratch_database(given, "findings_bench")
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/findings_bench.sqlite3"
    os.environ.update(
        PRISM_ENV_FILE="/nonexistent",
        SECRET_KEY="bench",
        DATABASE_URL=url,
        API_THROTTLE_RATE="1000000/hour",
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
        # The test client speaks plain HTTP: no redirect to HTTPS in the measure.
        **PLAIN_HTTP,
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prism.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        store(args.findings)
        stored = time.perf_counter() - started
        times, count = measure(args.requests)
        p50 = statistics.median(times)
        p99 = statistics.quantiles(times, n=100)[98]
        print(f"database: {connection.vendor}; stored {args.findings:,} findings in {stored:.1f} s")
        print(f"GET /api/findings/?{'&'.join(f'{k}={v}' for k, v in QUERY.items())}")
        print(f"  {count} matching; {args.requests} requests: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        print(f"  target p99 < 50 ms: {'met' if p99 < 50 else 'MISSED'}")
    finally:
        connection.close()
        if server:
            drop(server, url)


if __name__ == "__main__":
    main()
