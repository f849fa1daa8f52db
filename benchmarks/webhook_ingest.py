"""Webhook ingestion throughput and latency: Prism under gunicorn on PostgreSQL + Redis.

    .venv/bin/python benchmarks/webhook_ingest.py [--requests 1500] [--rounds 3] [--clients 8]

Starts gunicorn on a free port against a scratch database (`prism_bench`) and a scratch
Redis database, sends signed real `pull_request.opened` payloads with unique delivery ids
from an asyncio client over keep-alive connections at 1, 8 and 32 concurrent clients, and
prints deliveries per second and p50/p99 latency (medians over the rounds). Then it checks
that every delivery ended as exactly one analysis row and exactly one task message on Redis.
No worker runs, so the messages stay on the queue to be counted.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prism.bootstrap import PLAIN_HTTP  # noqa: E402
from reviews.github.signatures import sign  # noqa: E402
from tests.fixtures import payload_bytes  # noqa: E402

SECRET = "bench-secret"
PG = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15")
QUEUE = "celery"  # Celery's default queue, in a scratch Redis database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_database() -> str:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS prism_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE prism_bench")
    return f"{PG}/prism_bench"


def start_prism(port: int, workers: int, threads: int) -> tuple[subprocess.Popen, dict]:
    env = {
        **os.environ,
        "PRISM_ENV_FILE": "/nonexistent",
        "SECRET_KEY": "bench",
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": scratch_database(),
        "CELERY_BROKER_URL": REDIS,
        # Production's level: every queued delivery writes one log line.
        "LOG_LEVEL": "INFO",
        # Plain HTTP on loopback, as `make run` serves it (no redirect to HTTPS).
        **PLAIN_HTTP,
        "STATIC_ROOT": tempfile.mkdtemp(prefix="prism-bench-static-"),
    }
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    # gunicorn refuses to start without the static files, as in production.
    subprocess.run(
        [python, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "prism.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            f"--threads={threads}",
            "--worker-class=gthread",
            "--keep-alive=30",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
        # The server's log lines are written (that is part of the cost), then discarded.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, env
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("gunicorn did not start")


def request_bytes(body: bytes, signature: str, delivery_id: str, port: int) -> bytes:
    head = (
        "POST /webhooks/github/ HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-GitHub-Event: pull_request\r\n"
        f"X-GitHub-Delivery: {delivery_id}\r\n"
        f"X-Hub-Signature-256: {signature}\r\n"
        "User-Agent: GitHub-Hookshot/bench\r\n\r\n"
    )
    return head.encode() + body


async def client(port: int, jobs: asyncio.Queue, out: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            try:
                delivery_id, body, signature = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            writer.write(request_bytes(body, signature, delivery_id, port))
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            out.append((int(status_line.split()[1]), time.perf_counter() - started))
    finally:
        writer.close()


def push_of(delivery_id: str) -> tuple[bytes, str]:
    """A delivery for a new head of its own: Prism reviews each head once, so a delivery
    for a head it already queued is answered as a duplicate (and would measure that)."""
    data = json.loads(payload_bytes("pull_request.opened.json"))
    data["pull_request"]["head"]["sha"] = hashlib.sha1(delivery_id.encode()).hexdigest()  # noqa: S324
    body = json.dumps(data, separators=(",", ":")).encode()
    return body, sign(SECRET, body)


async def run_level(port: int, concurrency: int, ids: list[str]) -> tuple[float, list]:
    jobs: asyncio.Queue = asyncio.Queue()
    for delivery_id in ids:  # built before the clock starts
        jobs.put_nowait((delivery_id, *push_of(delivery_id)))
    results: list = []
    started = time.perf_counter()
    await asyncio.gather(*(client(port, jobs, results) for _ in range(concurrency)))
    return time.perf_counter() - started, results


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def account(env: dict, sent: list[str]) -> tuple[int, int, int]:
    """(rows for the sent ids, task messages on the queue, ids with exactly one of each)."""
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        rows: dict[str, int] = dict(
            conn.execute(
                "SELECT delivery_id, id FROM reviews_analysis WHERE delivery_id = ANY(%s)",
                (sent,),
            ).fetchall()
        )
    queue = redis.Redis.from_url(REDIS)
    task_ids: dict[int, int] = {}
    for raw in queue.lrange(QUEUE, 0, -1):
        args = json.loads(base64.b64decode(json.loads(raw)["body"]))[0]
        task_ids[args[0]] = task_ids.get(args[0], 0) + 1
    exact = sum(1 for pk in rows.values() if task_ids.get(pk) == 1)
    return len(rows), sum(task_ids.get(pk, 0) for pk in rows.values()), exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="deliveries per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level (median)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrency levels"
    )
    args = parser.parse_args()

    redis.Redis.from_url(REDIS).delete(QUEUE)
    port = free_port()
    server, env = start_prism(port, args.workers, args.threads)
    sent: list[str] = []
    failures = 0
    try:
        # Warm-up: imports, connections, and the first queries of every worker thread.
        asyncio.run(run_level(port, 8, [f"warm-{uuid.uuid4()}" for _ in range(300)]))
        print(
            f"gunicorn gthread workers={args.workers} threads={args.threads}; "
            f"{args.requests} deliveries x {args.rounds} rounds per level; medians"
        )
        print(f"{'clients':>8} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8}")
        for concurrency in args.clients:
            rates, p50s, p99s = [], [], []
            for _ in range(args.rounds):
                ids = [f"bench-{uuid.uuid4()}" for _ in range(args.requests)]
                elapsed, results = asyncio.run(run_level(port, concurrency, ids))
                sent += ids
                failures += sum(1 for code, _ in results if code != 202)
                latencies = [seconds for _, seconds in results]
                rates.append(len(results) / elapsed)
                p50s.append(percentile(latencies, 0.50) * 1000)
                p99s.append(percentile(latencies, 0.99) * 1000)
            print(
                f"{concurrency:>8} {statistics.median(rates):>13.0f} "
                f"{statistics.median(p50s):>8.1f} {statistics.median(p99s):>8.1f}"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
    rows, messages, exact = account(env, sent)
    print(
        f"sent {len(sent)} deliveries; non-202 answers {failures}; analyses {rows}; "
        f"task messages for them {messages}; "
        f"exactly one queued task {exact}/{len(sent)}"
    )


if __name__ == "__main__":
    main()
