"""The summary comment and each inline comment show the finding's id, so people can dismiss it
with `@prism dismiss <id>`; without ids (nothing in the ledger) the comment is unchanged."""

from dataclasses import replace

from reviews.comments.render import render_inline, render_review
from tests.comments.test_render import CTX, result
from tests.factories import finding


def test_the_summary_shows_each_findings_id_and_how_to_dismiss():
    first = finding("src/cart.py", 12, severity="high", title="Total ignores discounts")
    second = finding("src/cart.py", 40, severity="medium", title="Rounding drift")
    ctx = replace(
        CTX, finding_ids={first.fingerprint: 41, second.fingerprint: 42}, bot_name="prism"
    )

    text = render_review(result([first, second]), ctx)

    assert "| ID | Line | Severity | Issue |" in text
    assert "| `41` | [12](" in text and "| `42` | [40](" in text
    assert "`@prism dismiss ID reason`" in text and "`@prism help`" in text


def test_without_ids_there_is_no_id_column_nor_hint():
    text = render_review(result([finding("src/cart.py", 12, severity="high")]), CTX)

    assert "| Line | Severity | Issue |" in text
    assert "ID" not in text.split("###", 1)[1].split("\n")[0]
    assert "dismiss" not in text


def test_an_inline_comment_says_how_to_dismiss_or_ask_in_its_thread():
    item = finding("src/cart.py", 12, severity="high")
    ctx = replace(CTX, finding_ids={item.fingerprint: 41}, bot_name="prism")

    body = render_inline(item, ctx=ctx)

    assert "Finding `41`" in body
    assert "`@prism dismiss reason`" in body and "`@prism ask question`" in body
    assert not body.lstrip().startswith("@")  # never a command itself
    assert "Finding `" not in render_inline(item, ctx=CTX)


def test_a_stored_review_is_shown_with_its_ledger_ids(make_analysis):
    """A review read back from storage has no anchor text: its findings are still matched,
    unless two ledger findings share a file, kind and title (then neither shows an id)."""
    from reviews.comments.render import render_review as render
    from reviews.models import Finding
    from reviews.pipeline import publish
    from tests.factories import feedback

    analysis = make_analysis(
        status="completed",
        feedback=feedback(
            finding("src/cart.py", 12, title="Total ignores discounts"),
            finding("src/cart.py", 40, title="Same title twice"),
        ),
    )
    shown = Finding.objects.get(title="Total ignores discounts")
    twin = Finding.objects.get(title="Same title twice")
    # As the pipeline stores them: fingerprints with the anchored lines' text.
    Finding.objects.filter(pk=twin.pk).update(fingerprint="e" * 16, anchor_text="code")
    Finding.objects.create(
        repo_full_name=twin.repo_full_name,
        pr_number=twin.pr_number,
        fingerprint="f" * 16,
        analysis=analysis,
        path=twin.path,
        line=44,
        category=twin.category,
        severity=twin.severity,
        title=twin.title,
        anchor_text="other code",
        first_seen_sha=twin.first_seen_sha,
        last_seen_sha=twin.last_seen_sha,
    )

    text = render(analysis.result, publish.comment_context(analysis))

    assert f"| `{shown.pk}` | " in text
    assert f"`{twin.pk}`" not in text
