"""The shared real diffs (tests/fixtures.py), each parsed once for every diffs test."""

from functools import cache

from reviews.diffs.parser import FileDiff, parse
from tests.fixtures import diff_text

HUGE = "24-very-large-release-range"  # 1,000+ files: the budget tests' worst case


@cache
def parsed(name: str) -> list[FileDiff]:
    return parse(diff_text(name))
