"""The sanitizer stays linear on hostile model text: 1 MB on one line, well inside a hard ceiling.

Each input (benchmarks/sanitize_speed.py, which prints the figures) goes through sanitize_block
and sanitize_inline in a subprocess that is killed at CEILING seconds. Linear code needs a few
hundred milliseconds; the quadratic code this replaced needed about 2.5 s per 20,000 characters,
which at 1 MB is hours, so a ceiling of a minute never trips on a loaded shared machine (5 s
did) and still fails hard on any quadratic pattern. This is a guard, not a measurement: the
figures come from the benchmark.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.sanitize_speed import PIECES

REPO_ROOT = Path(__file__).resolve().parents[2]
CEILING = 60.0  # seconds, for both calls on 1 MB, interpreter start included
RUN = """
import sys
from benchmarks.sanitize_speed import hostile
from reviews.comments.sanitize import sanitize_block, sanitize_inline

text = hostile(sys.argv[1], 1_000_000)
sanitize_block(text)
sanitize_inline(text)
"""


@pytest.mark.parametrize("name", list(PIECES))
def test_a_megabyte_of_hostile_text_is_sanitized_in_linear_time(name):
    try:
        subprocess.run(
            [sys.executable, "-c", RUN, name], cwd=REPO_ROOT, check=True, timeout=CEILING
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"sanitizing 1 MB of {name!r} took over {CEILING} s: quadratic somewhere")
