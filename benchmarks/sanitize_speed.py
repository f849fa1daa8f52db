"""Time the sanitizer on hostile model text: .venv/bin/python benchmarks/sanitize_speed.py

Each input is one line of SIZE characters (1 MB by default) built to make a backtracking regex
or a rescanning loop go quadratic: long runs of one markdown character, repeated link and image
openers, keywords with no space after them, and a mixture. sanitize_block and sanitize_inline
are each timed RUNS times, without a limit, and the median is printed: wall-clock time, and
the process's CPU time in brackets (steadier on a busy machine).

    --size N   characters per input (default 1000000)
    --runs N   runs per input (default 5)
    NAME ...   only these inputs
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from reviews.comments.sanitize import sanitize_block, sanitize_inline  # noqa: E402

SIZE = 1_000_000
RUNS = 5
TARGET_MS = 1000

# name -> a piece repeated (or built) up to the size.
PIECES: dict[str, str] = {
    "at": "@",
    "bracket": "[",
    "close-open": "](",
    "backtick": "`",
    "backtick-pairs": "``a`",
    "lt": "<",
    "http": "http://",
    "hash": "#",
    "underscore": "_",
    "star": "*",
    "entity": "&#64;",
    "letters": "a",
    "fix-dot": "fix.",
    "fix-colon": "fix:",
    "image-open": "![",
    "image-empty": "![](",
    "link-open": "[a](",
    "link-title": '[x](a "',
    "autolink-open": "<a:",
    "www": "www.",
    "dots-in-url": ".",  # between http://x and a final x: one URL whose end is not its tail
    "space-after-link": " ",  # after one [x](, so the link's whitespace is 1 MB long
    "mixture": "[x](http://@`<#_*&#64; fix.![](www.a ",
}
PREFIXES = {"dots-in-url": "http://x", "space-after-link": "[x]("}
SUFFIXES = {"dots-in-url": "x"}


def hostile(name: str, size: int = SIZE) -> str:
    """The input called `name`: its piece repeated to `size` characters, between its affixes."""
    prefix, suffix = PREFIXES.get(name, ""), SUFFIXES.get(name, "")
    piece = PIECES[name]
    middle = piece * ((size - len(prefix) - len(suffix)) // len(piece) + 1)
    return prefix + middle[: size - len(prefix) - len(suffix)] + suffix


def median_ms(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall-clock and CPU milliseconds of `call`."""
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(PIECES))
    args = parser.parse_args()
    names = args.names or list(PIECES)
    if unknown := set(names) - set(PIECES):
        parser.error(f"unknown input(s): {', '.join(sorted(unknown))}")
    print(f"median of {args.runs} runs, ms, one line of {args.size:,} characters, no limit")
    print(f"{'input':<20}{'sanitize_block':>24}{'sanitize_inline':>24}")
    worst = (0.0, 0.0)
    for name in names:
        text = hostile(name, args.size)
        block = median_ms(partial(sanitize_block, text), args.runs)
        inline = median_ms(partial(sanitize_inline, text), args.runs)
        worst = max(worst, block, inline)
        cells = "".join(f"{wall:>14.1f} ({cpu:>6.1f})" for wall, cpu in (block, inline))
        print(f"{name:<20}{cells}", flush=True)
    verdict = "under" if worst[0] < TARGET_MS else "OVER"
    print(
        f"\nslowest: {worst[0]:.1f} ms, {worst[1]:.1f} ms CPU ({verdict} the {TARGET_MS} ms target)"
    )


if __name__ == "__main__":
    main()
