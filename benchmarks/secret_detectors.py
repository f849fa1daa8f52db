"""Compare Prism's redaction with Yelp's detect-secrets on the same data.

    .venv/bin/pip install detect-secrets==1.5.0   # for this comparison only
    .venv/bin/python benchmarks/secret_detectors.py

Recall: the share of lines of tests/fixtures/secrets/corpus.txt in which the detector finds
a secret (for detect-secrets, any finding on the line counts: it is credited even where it
would not say which characters to remove). False positives: lines of the 25 real diffs it
flags beyond the credential lines listed in tests/redaction/test_corpus.py.
"""

import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.fixtures import diff_names, diff_text  # noqa: E402
from tests.redaction.test_corpus import (  # noqa: E402
    EXPECTED_IN_REAL_DIFFS,
    corpus,
    flagged_lines,
    leaks,
)


def prism() -> tuple[int, int, float]:
    started = time.perf_counter()
    found = sum(not leaks(line, secret) for line, secret in corpus())
    false = sum(
        len(flagged_lines(diff_text(name)) - EXPECTED_IN_REAL_DIFFS.get(name, set()))
        for name in diff_names()
    )
    return found, false, time.perf_counter() - started


def detect_secrets(entropy: bool = True) -> tuple[int, int, float] | None:
    """All default plugins; or without the two high-entropy ones, whose findings on lock
    files and hashes dominate its false positives."""
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import transient_settings
    except ImportError:
        return None
    # Annotated: the function's return type names a type variable it never binds.
    classes: dict[str, type] = get_mapping_from_secret_type_to_class()
    plugins: list[dict[str, str]] = [
        {"name": plugin.__name__}
        for plugin in classes.values()
        if entropy or "HighEntropy" not in plugin.__name__
    ]
    started = time.perf_counter()
    with transient_settings({"plugins_used": plugins}):
        found = sum(any(scan_line(line)) for line, _ in corpus())
        false = 0
        for name in diff_names():
            expected = EXPECTED_IN_REAL_DIFFS.get(name, set())
            for line in set(diff_text(name).splitlines()):
                if line not in expected and any(scan_line(line[1:])):
                    false += 1
    return found, false, time.perf_counter() - started


def main() -> None:
    total = len(corpus())
    print(f"corpus: {total} lines; real diffs: {len(diff_names())}")
    detectors = (
        ("prism", prism),
        ("detect-secrets", detect_secrets),
        ("detect-secrets without entropy", lambda: detect_secrets(entropy=False)),
    )
    for name, measure in detectors:
        result = measure()
        if result is None:
            print(f"{name:<31} not installed")
            continue
        found, false, seconds = result
        print(
            f"{name:<31} recall {found}/{total} = {found / total:.1%}   "
            f"false-positive lines on the real diffs: {false}   ({seconds:.1f} s)"
        )


if __name__ == "__main__":
    main()
