"""Scenario 13: two repositories with different policies, reviewed differently by one Prism.

Each repository's `.github/prism.yml` is read from its default branch (the GitHub stand-in
serves it), validated, and bounded by the operator's settings; the same change is reviewed
under each repository's own rules.
"""

import pytest

from tests.e2e.helpers import needle

pytestmark = pytest.mark.e2e

STRICT = "e2e-policy/strict"
QUIET = "e2e-policy/quiet"
HOUSE_RULES = "House rule 7: every handler checks authorisation first."


def test_two_repositories_are_reviewed_under_their_own_policies(stack):
    stack.github.default_files[STRICT, ".github/prism.yml"] = (
        f"version: 1\ninstructions: '{HOUSE_RULES}'\ninline_min_severity: critical\n"
    )
    stack.github.default_files[QUIET, ".github/prism.yml"] = "version: 1\nenabled: false\n"

    stack.open_pull(STRICT, 1, diff="01-plain-modification")
    stack.open_pull(QUIET, 1, diff="01-plain-modification")
    [strict] = stack.wait_for_reviews(STRICT, 1)
    [quiet] = stack.wait_for_reviews(QUIET, 1)

    # The strict repository: reviewed, its house rules in the model's request, and its
    # high findings left out of inline comments (it wants only critical ones inline).
    assert strict["status"] == "completed", strict["error"]
    [call, *_] = stack.llm.calls_for(needle(STRICT, 1))
    assert HOUSE_RULES in call.prompt()
    assert strict["feedback"]["findings"]
    assert stack.github.review_comments.get((STRICT, 1), []) == []
    [comment] = stack.github.issue_comments(STRICT, 1)
    assert "Policy: `.github/prism.yml` @ `main`" in comment["body"]
    assert strict["policy_sha"]

    # The quiet repository: skipped with the reason, and the model was never asked.
    assert quiet["status"] == "skipped"
    assert "disabled by .github/prism.yml" in quiet["error"]
    assert stack.llm.calls_for(needle(QUIET, 1)) == []
    assert HOUSE_RULES not in "".join(c.prompt() for c in stack.llm.calls_for(needle(QUIET, 1)))
