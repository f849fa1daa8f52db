"""The comments Prism posts: snapshots of real-looking reviews, hostile input, size limits.

Snapshots live in tests/comments/snapshots/*.md; rewrite them with UPDATE_SNAPSHOTS=1 and read
the diff.
"""

import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from reviews.comments.render import (
    CATEGORIES,
    MARKER,
    MAX_COMMENT_CHARS,
    SEVERITIES,
    CommentContext,
    render_failure,
    render_inline,
    render_review,
)
from reviews.comments.sanitize import code_span
from reviews.github.resources import PullRequest
from reviews.results import ChunkModel, Coverage, Finding, ReviewResult, Scope, Skipped
from tests.comments.test_sanitize import (
    CLOSING_REFERENCE,
    MENTION,
    TEXT,
    assert_renders_safely,
    fences_are_closed,
)
from tests.factories import coverage, finding, review_result, usage

SNAPSHOTS = Path(__file__).parent / "snapshots"
CTX = CommentContext(
    analysis_id=17,
    pull_request=PullRequest(
        repo_full_name="acme/shop",
        number=7,
        title="Checkout fixes",
        html_url="https://github.com/acme/shop/pull/7",
        author="octocat",
        head_sha="3f9a2c1d4e5b6a7980f1e2d3c4b5a69788796a5b",
        base_sha="1" * 40,
    ),
)
FULL_COVERAGE = coverage(files_reviewed=3, lines_reviewed=120, skipped=())
USAGE = usage(
    model="gpt-4o-2024-08-06", prompt_tokens=11_000, completion_tokens=1_345, cost=0.0123, calls=3
)


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.md"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 and read it"
    assert text == path.read_text(encoding="utf-8")


def result(findings, **fields):
    """A review as the comment tests read it: every file reviewed unless `coverage` says not."""
    return review_result(
        *findings,
        **{
            "summary": "Looks reasonable overall.",
            "coverage": FULL_COVERAGE,
            "usage": USAGE,
            **fields,
        },
    )


EVERY_KIND = [
    finding(
        "shop/orders.py",
        42,
        category="security",
        severity="critical",
        title="SQL built from user input",
        body="`order_id` is interpolated into the query, so a crafted id runs arbitrary SQL."
        "\n\nPass it as a parameter instead.",
        suggestion='cursor.execute("SELECT * FROM orders WHERE id = %s", [order_id])',
    ),
    finding(
        "shop/cart.py",
        10,
        end_line=12,
        severity="high",
        title="Total ignores the quantity",
        body="Each item is counted once however many were ordered.",
        suggestion="for item in items:\n    total += item.price * item.quantity\nreturn total",
    ),
    finding(
        "shop/cart.py",
        88,
        severity="low",
        title="Off-by-one in pagination",
        body="The last page is never shown.",
        anchored=False,
    ),
    finding(
        "shop/api.py",
        7,
        category="security",
        severity="medium",
        title="Token compared with ==",
        body="Use `hmac.compare_digest` to avoid a timing side channel.",
    ),
    finding(
        "shop/views.py",
        31,
        category="performance",
        severity="high",
        title="N+1 queries in the order list",
        body="Each row loads its customer; add `select_related('customer')`.",
    ),
    finding(
        "shop/views.py",
        55,
        category="performance",
        severity="low",
        title="List built only to be counted",
        body="`len(list(qs))` fetches every row; use `qs.count()`.",
        suggestion="count = qs.count()",
    ),
    finding(
        "shop/views.py",
        3,
        category="style",
        severity="low",
        title="Unused import",
        body="`os` is imported but never used.",
    ),
    finding(
        "shop/models.py",
        120,
        category="style",
        severity="medium",
        title="Method name does not say what it returns",
        body="`data()` returns the total in cents; `total_cents()` would say so.",
    ),
]
PARTIAL_COVERAGE = coverage(
    files_total=52,
    files_reviewed=45,
    lines_total=1_310,
    lines_reviewed=1_204,
    skipped=(
        Skipped("poetry.lock", "lockfile", 900),
        Skipped("frontend/yarn.lock", "lockfile", 2_300),
        Skipped("static/logo.png", "binary", 0),
        Skipped("static/app.min.js", "minified", 1),
        Skipped("shop/migrations/0042_auto.py", "generated", 60),
        Skipped("shop/reports.py", "over_call_budget", 85),
        Skipped("shop/exports.py", "over_call_budget", 21),
    ),
)


def test_a_review_with_every_category_and_severity_matches_its_snapshot():
    out = render_review(
        result(
            EVERY_KIND,
            summary="Adds checkout with a cart and order export.\n\n"
            "One **SQL injection** in `orders.py` needs fixing before merge.",
            coverage=PARTIAL_COVERAGE,
        ),
        CTX,
    )

    assert_snapshot("review_every_category", out)
    assert_renders_safely(out)


def test_a_clean_review_matches_its_snapshot():
    out = render_review(result([], summary="Renames a helper; no behaviour change."), CTX)

    assert_snapshot("review_clean", out)
    assert "No issues found." in out


def test_a_clean_review_with_files_left_out_says_so_and_lists_them():
    out = render_review(result([], coverage=PARTIAL_COVERAGE), CTX)

    assert_snapshot("review_clean_partial", out)
    assert "No issues found in the reviewed files." in out
    assert "`shop/reports.py`: over the call budget (85 lines)" in out


def test_a_failed_review_matches_its_snapshot():
    out = render_failure(error="LLMError: the model answered 503 twice\nTraceback …", ctx=CTX)

    assert_snapshot("review_failed", out)


def test_an_inline_comment_matches_its_snapshot():
    assert_snapshot("inline_with_suggestion", render_inline(EVERY_KIND[1]))


def test_a_failed_review_never_looks_clean_and_keeps_no_secret():
    out = render_failure(
        error="GitHubError: 401 for https://x-access-token:ghs_abcdefghijklmnopqrstu@github.com"
        " with Authorization: Bearer sk-proj-abcdefghijklmnopqrstuvwxyz\nsecond line secret",
        ctx=CTX,
    )

    assert out.startswith(MARKER)
    assert "could not be completed" in out
    assert "has not been reviewed" in out
    assert "No issues found" not in out
    assert "ghs_" not in out
    assert "sk-proj" not in out
    assert "second line" not in out


def test_line_numbers_link_to_the_files_changed_view():
    out = render_review(result([finding("a/b.py", 5, end_line=9)]), CTX)
    anchor = hashlib.sha256(b"a/b.py").hexdigest()

    assert f"[5-9](https://github.com/acme/shop/pull/7/files#diff-{anchor}R5-R9)" in out


def test_a_finding_outside_the_diff_is_shown_without_a_link():
    out = render_review(result([finding(line=88, anchored=False)]), CTX)

    assert "| 88 (outside the diff) |" in out
    assert "R88" not in out


def test_findings_are_ordered_by_severity_then_path_then_line():
    out = render_review(
        result(
            [
                finding("b.py", 1, severity="medium", title="third"),
                finding("a.py", 9, severity="medium", title="second"),
                finding("z.py", 5, severity="high", title="first"),
                finding("a.py", 2, severity="medium", title="also second"),
            ]
        ),
        CTX,
    )

    titles = re.findall(r"\*\*(first|second|also second|third)\*\*", out)
    assert titles == ["first", "also second", "second", "third"]


def test_skipped_files_are_counted_by_reason_in_singular_and_plural():
    out = render_review(result([], coverage=PARTIAL_COVERAGE), CTX)

    assert (
        "Reviewed 45 of 52 files (1,204 of 1,310 changed lines); skipped 7: 2 lockfiles,"
        " 1 minified file, 1 generated file, 1 binary file, 2 over the call budget." in out
    )


def test_the_footer_names_the_model_commit_usage_and_analysis():
    out = render_review(result([]), CTX)

    assert "Reviewed all 3 files (120 changed lines)." in out
    assert "Model `gpt-4o-2024-08-06`" in out
    assert f"[3f9a2c1]({CTX.pr_url}/commits/{CTX.head_sha})" in out
    assert "12,345 tokens, $0.0123" in out
    assert "Prism analysis 17" in out


def test_the_footer_names_each_model_that_answered_and_which_were_fallbacks():
    chunks = (
        ChunkModel(1, "openai/gpt-4o-mini"),
        ChunkModel(2, "anthropic/claude-3.5-haiku", True, ("openai/gpt-4o-mini",)),
        ChunkModel(3, "openai/gpt-4o-mini"),
    )
    out = render_review(replace(result([]), chunks=chunks), CTX)

    assert (
        "Models `openai/gpt-4o-mini` (2 chunks), `anthropic/claude-3.5-haiku` (1 chunk, "
        f"fallback) · commit [3f9a2c1]({CTX.pr_url}/commits/{CTX.head_sha})" in out
    )


def test_the_footer_names_a_fallback_that_answered_every_chunk():
    chunks = tuple(ChunkModel(n, "b/model", True, ("a/model",)) for n in (1, 2))
    out = render_review(replace(result([]), chunks=chunks), CTX)

    assert "Models `b/model` (2 chunks, fallback) · commit" in out


def test_a_model_name_in_the_footer_stays_inside_its_code_span():
    name = "evil`[x](https://evil.test)`"
    chunks = (ChunkModel(1, "a/model"), ChunkModel(2, name, True))
    out = render_review(replace(result([]), chunks=chunks), CTX)

    assert f"{code_span(name)} (1 chunk, fallback)" in out
    assert code_span(name).startswith("``")  # a longer fence than the name's backticks


INCREMENTAL = Scope(
    mode="incremental",
    reason="3 new commits on top of the last review",
    base_sha="a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
    head_sha="e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3",
    commits=3,
    files=4,
    lines=212,
)


def scoped(scope: Scope | None) -> str:
    return render_review(review_result(coverage=replace(FULL_COVERAGE, scope=scope)), CTX)


def test_the_footer_says_a_push_was_reviewed_incrementally():
    out = scoped(INCREMENTAL)

    footer = out[out.index("---") :]
    assert footer.startswith(
        "---\n\n<sub>Incremental: 3 commits a1b2c3d..e4f5a6b, 4 files, 212 changed lines.</sub><br>"
        "\n<sub>Reviewed all 3 files (120 changed lines).</sub>"
    )


def test_the_footer_counts_the_files_unchanged_since_the_last_review():
    out = scoped(replace(INCREMENTAL, commits=1, files=1, lines=1, unchanged=12))

    assert (
        "Incremental: 1 commit a1b2c3d..e4f5a6b, 1 file, 1 changed line; "
        "12 files unchanged since the last review." in out
    )


def test_the_footer_says_why_a_push_was_reviewed_in_full():
    out = scoped(Scope(mode="full", reason="history was rewritten (force-push or rebase)"))

    assert "<sub>Full review: history was rewritten (force-push or rebase).</sub><br>" in out


def test_a_first_review_has_no_scope_line():
    out = scoped(None)

    assert "Incremental" not in out and "Full review" not in out
    assert out == render_review(review_result(coverage=FULL_COVERAGE), CTX)


def test_the_scope_is_stored_under_coverage_and_old_rows_read_without_one():
    coverage = replace(FULL_COVERAGE, scope=INCREMENTAL)

    stored = coverage.to_json()

    assert stored["scope"]["mode"] == "incremental" and stored["scope"]["lines"] == 212
    assert set(stored) - {"scope"} == set(FULL_COVERAGE.to_json())
    assert Coverage.from_json(stored) == coverage
    assert Coverage.from_json(FULL_COVERAGE.to_json()).scope is None
    assert "scope" not in FULL_COVERAGE.to_json()
    assert Coverage.from_json({"scope": {"mode": "sideways"}}).scope == Scope("full", "")


def test_hostile_model_output_is_rendered_inert():
    hostile = (
        "a | b\nc @org/team @everyone <script>alert(1)</script> "
        "![x](https://evil.example/?q=secret) [click](https://evil.example) ``` odd fence "
        "fixes #12 "
    )
    out = render_review(
        result(
            [finding(path="x|y\n`.py", title=hostile, body=hostile * 3, suggestion="```")],
            summary=hostile + "\n```python\n" + "x" * 100_000,
        ),
        CTX,
    )

    assert "<script" not in out
    assert "evil.example" not in out
    assert not MENTION.search(out)
    assert not CLOSING_REFERENCE.search(out)
    assert fences_are_closed(out)
    assert len(out) <= MAX_COMMENT_CHARS
    assert out.count(MARKER) == 1
    assert any("Prism analysis 17" in text for text in assert_renders_safely(out).prose)


def test_a_100000_character_explanation_is_cut_in_the_summary_table():
    out = render_review(result([finding(body="why " * 25_000)]), CTX)

    assert len(out) < 5_000
    assert out.count("why") == 250  # 1,000 characters, then an ellipsis
    assert "why…" in out


def test_five_thousand_findings_fit_and_say_how_many_were_left_out():
    many = [
        finding(f"src/module_{i % 300}.py", i, severity=SEVERITIES[i % 4], body="x " * 400)
        for i in range(1, 5_001)
    ]

    out = render_review(result(many), CTX)

    assert len(out) <= MAX_COMMENT_CHARS
    note = re.search(r"_([\d,]+) more findings not shown", out)
    assert note is not None, out
    left_out = int(note[1].replace(",", ""))
    shown = out.count("\n| [")
    assert shown + left_out == 5_000
    assert "| Low | **" not in out  # the least severe go first
    assert "**5,000 findings** in 300 files: 1,250 critical, 1,250 high" in out


def test_huge_paths_and_many_skipped_files_still_fit():
    out = render_review(
        result(
            [finding("d/" * 50_000 + "f.py", 1)],
            coverage=coverage(
                files_total=4_000,
                files_reviewed=0,
                lines_total=9,
                lines_reviewed=0,
                skipped=(Skipped("p/" * 5_000, "no_patch", 1),) * 3_000,
            ),
        ),
        CTX,
    )

    assert len(out) <= MAX_COMMENT_CHARS
    assert "- and 2,900 more" in out


def test_an_inline_comment_carries_a_badge_title_body_and_suggestion():
    out = render_inline(EVERY_KIND[0])

    assert out.startswith("**Critical · Security:** SQL built from user input\n\n")
    assert "```suggestion\ncursor.execute(" in out


def test_a_suggestion_holding_a_fence_gets_a_longer_fence():
    out = render_inline(finding(suggestion='doc = """\n```\nexample\n```\n"""'))

    assert '````suggestion\ndoc = """\n```\nexample\n```\n"""\n````' in out


def test_a_suggestion_outside_the_diff_is_plain_code_not_a_suggestion():
    out = render_inline(finding(suggestion="x = 1", anchored=False))

    assert "```suggestion" not in out
    assert "Suggested code:\n\n```\nx = 1\n```" in out


def test_an_inline_comment_is_sanitized_and_fits():
    out = render_inline(finding(title="@everyone fixes #1", body="<img src=x> " * 50_000))

    assert not MENTION.search(out)
    assert not CLOSING_REFERENCE.search(out)
    assert "<img" not in out
    assert len(out) <= MAX_COMMENT_CHARS


FINDINGS = st.fixed_dictionaries(
    {
        "path": TEXT,
        "line": st.integers(min_value=-3, max_value=10**9),
        "end_line": st.none() | st.integers(min_value=-3, max_value=10**9),
        "category": st.sampled_from([*CATEGORIES, "unknown"]),
        "severity": st.sampled_from([*SEVERITIES, "unknown"]),
        "title": TEXT,
        "body": TEXT,
        "suggestion": st.none() | TEXT,
        "anchored": st.booleans(),
    }
)
SKIPPED = st.fixed_dictionaries(
    {
        "path": TEXT,
        "reason": st.sampled_from(["lockfile", "binary", "over_call_budget", "no_patch", "?"]),
        "lines": st.integers(min_value=0, max_value=10**6),
    }
)
FEEDBACK = st.fixed_dictionaries(
    {
        "summary": TEXT,
        "findings": st.lists(FINDINGS, max_size=12),
        "coverage": st.fixed_dictionaries(
            {
                "files_total": st.integers(0, 10**4),
                "files_reviewed": st.integers(0, 10**4),
                "lines_total": st.integers(0, 10**6),
                "lines_reviewed": st.integers(0, 10**6),
                "skipped": st.lists(SKIPPED, max_size=5),
            }
        ),
        "usage": st.fixed_dictionaries(
            {
                "model": TEXT,
                "prompt_tokens": st.integers(0, 10**7),
                "completion_tokens": st.integers(0, 10**7),
                "cost": st.none() | st.floats(min_value=0, max_value=1e4),
                "calls": st.integers(0, 100),
            }
        ),
    }
)


@settings(max_examples=200, deadline=None)
@given(FEEDBACK)
def test_any_review_fits_has_one_marker_closes_its_fences_and_renders_safely(data):
    out = render_review(ReviewResult.from_json(data), CTX)

    assert len(out) <= MAX_COMMENT_CHARS
    assert out.startswith(MARKER)
    assert out.count(MARKER) == 1
    assert fences_are_closed(out)
    rendered = assert_renders_safely(out)
    assert any("Prism analysis 17" in text for text in rendered.prose)


@settings(max_examples=200, deadline=None)
@given(FINDINGS)
def test_any_inline_comment_fits_and_renders_safely(data):
    finding = Finding.from_json(data)
    assert finding is not None
    out = render_inline(finding)

    assert len(out) <= MAX_COMMENT_CHARS
    assert MARKER not in out
    assert fences_are_closed(out)
    assert_renders_safely(out)


def test_every_reason_a_file_is_not_reviewed_has_words_in_the_footer():
    from reviews import results
    from reviews.comments import render

    assert set(render.FOOTER_REASON_ORDER) == set(results.SKIP_REASONS)
