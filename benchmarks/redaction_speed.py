"""Time redaction on hostile one-megabyte lines: .venv/bin/python benchmarks/redaction_speed.py

A pull request can hold a single line of a megabyte (minified code, a data blob), written to
be slow. Each input below repeats a piece that once made a pattern backtrack from every
position (`sk-sk-sk-...` took 30 s at 120,000 characters). Each is redacted RUNS times and
the median printed; every one must stay under TARGET_S.
"""

import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from reviews.redaction import redact  # noqa: E402

SIZE = 1_000_000
RUNS = 5
TARGET_S = 1.0


def _fill(piece: str) -> str:
    return (piece * (SIZE // len(piece) + 1))[:SIZE]


# Each piece is the start of some pattern that never completes, repeated.
HOSTILE = {
    "sk-": _fill("sk-"),
    "-eyJ": _fill("-eyJ"),
    "ghs_1_": _fill("ghs_1_"),
    "letters": _fill("a"),
    "base64": _fill("Ab3+/"),
    "password=": _fill("password="),
    "a_password": _fill("a_password"),
    "token: ": _fill("token: "),
    "a://": _fill("a://"),
    "a://b:": _fill("a://b:"),
    "Authorization: ": _fill("Authorization: "),
    "Bearer ": _fill("Bearer "),
    "Basic ": _fill("Basic QUJD"),
    "-----BEGIN PRIVATE KEY-----": _fill("-----BEGIN PRIVATE KEY-----"),
    "-----END PRIVATE KEY-----": _fill("-----END PRIVATE KEY-----"),
    "b3BlbnNzaC1rZXktdjE": _fill("b3BlbnNzaC1rZXktdjE"),
    "<password>": _fill("<password>"),
    "--password ": _fill("--password "),
    "-u a:": _fill("-u a:"),
    "AccountKey=": _fill("AccountKey="),
    "spaces": _fill(" "),
    "hex": _fill("0123456789abcdef"),
}


def median_seconds(text: str) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        redact(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    worst = 0.0
    print(f"{'input (1 MB, one line)':<32} {'median s':>9}")
    for name, text in HOSTILE.items():
        seconds = median_seconds(text)
        worst = max(worst, seconds)
        print(f"{name:<32} {seconds:>9.3f}")
    print(f"worst median: {worst:.3f} s (target < {TARGET_S} s)")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
