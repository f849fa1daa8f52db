"""The findings ledger: identity across pushes (reviews/results.py, the pipeline's anchor()),
its lifecycle (ledger.findings_record), its migration, and the analysis API unchanged."""

import importlib
from dataclasses import replace
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from reviews import ledger
from reviews.api.serializers import AnalysisDetailSerializer
from reviews.diffs import parser
from reviews.diffs.anchoring import anchor, new_side
from reviews.models import Analysis, Finding
from reviews.results import finding_fingerprint
from tests.factories import feedback, finding, review_result
from tests.fixtures import diff_text

# Two real diffs of pallets/flask: the tutorial rewrite, and a later release range in which
# docs/tutorial/deploy.rst's paragraph sits ten lines higher.
EARLIER, LATER = "21-100plus-files", "23-large-release-range-binary"
DEPLOY = "docs/tutorial/deploy.rst"


def files(name: str) -> list[parser.FileDiff]:
    return parser.parse(diff_text(name))


def anchored(name: str, *found):
    return anchor(list(found), files(name))


# --- identity ---------------------------------------------------------------------------------


def test_a_finding_whose_line_moves_between_two_diffs_keeps_its_fingerprint():
    (before,) = anchored(EARLIER, finding(DEPLOY, 56, category="style", title="Wording"))
    (after,) = anchored(LATER, finding(DEPLOY, 46, category="style", title="Wording"))
    assert before.anchored and after.anchored
    assert before.anchor_text == after.anchor_text
    assert before.anchor_text.startswith("When Flask detects that it's installed")
    assert before.fingerprint == after.fingerprint


def test_a_changed_line_text_changes_the_fingerprint():
    # Line 18 of deploy.rst is shown by both diffs, with other words in the later one.
    (before,) = anchored(EARLIER, finding(DEPLOY, 18, title="Wording"))
    (same_line_number,) = anchored(LATER, finding(DEPLOY, 18, title="Wording"))
    assert before.anchored and same_line_number.anchored
    assert same_line_number.anchor_text != before.anchor_text
    assert same_line_number.fingerprint != before.fingerprint


def test_the_anchor_text_ignores_spacing_and_spans_the_finding_lines():
    # 01: src/flask/helpers.py lines 550-551 are added lines of one hunk.
    (multi,) = anchored("01-plain-modification", finding("src/flask/helpers.py", 550, end_line=551))
    assert multi.anchor_text.count("\n") == 1
    assert "  " not in multi.anchor_text
    assert multi.anchor_text == multi.anchor_text.strip()


def test_a_finding_off_the_diff_has_no_anchor_text_and_the_old_fingerprint():
    (off,) = anchored("01-plain-modification", finding("src/flask/helpers.py", 5000))
    assert not off.anchored and off.anchor_text == ""
    assert off.fingerprint == finding_fingerprint(off.path, off.category, off.title)


def test_the_anchor_text_is_never_stored_in_the_feedback_json():
    (moved,) = anchored(EARLIER, finding(DEPLOY, 56))
    assert "anchor_text" not in moved.to_json()
    assert moved.anchor_text


# --- lifecycle --------------------------------------------------------------------------------


def review_of(name: str, *found):
    """A review result of diff `name`, as the pipeline makes it: anchored, with the new side."""
    diff = files(name)
    return review_result(*anchor(list(found), diff), new_side=new_side(diff))


def record(make_analysis, result, **kwargs):
    analysis = make_analysis(status="completed", ledger=False, feedback=result.to_json())
    summary = ledger.findings_record(analysis=analysis, result=result, **kwargs)
    return analysis, summary


@pytest.fixture
def first_push(make_analysis):
    gone = sorted(set(new_side(files(EARLIER)).hunks) - set(new_side(files(LATER)).hunks))[0]
    result = review_of(
        EARLIER,
        finding(DEPLOY, 56, title="Moves"),  # same text ten lines up in LATER
        finding(DEPLOY, 4, title="Edited"),  # its line's text is not in LATER
        finding(gone, 1, title="File gone", anchored=False),  # file not in LATER at all
    )
    analysis, summary = record(make_analysis, result)
    return analysis, summary, gone


def state(title: str) -> str:
    return Finding.objects.get(title=title).state


def test_a_first_review_opens_a_row_per_finding(first_push):
    analysis, summary, _ = first_push
    assert (summary.new, summary.open, summary.fixed, summary.outdated) == (3, 3, 0, 0)
    assert summary.since == ""
    row = Finding.objects.get(title="Moves")
    assert row.analysis == analysis
    assert row.first_seen_sha == row.last_seen_sha == analysis.head_sha
    assert list(row.analyses.all()) == [analysis]


def test_a_later_push_fixes_outdates_and_carries_forward(first_push, make_analysis):
    first, _, _ = first_push
    raised = finding("src/flask/app.py", 1, title="New one", anchored=False)
    pushed, summary = record(make_analysis, review_of(LATER, raised))

    assert state("Edited") == "fixed"
    assert state("File gone") == "outdated"
    moved = Finding.objects.get(title="Moves")
    assert moved.state == "open"
    assert moved.line == 46  # followed to where its text is now
    assert moved.last_seen_sha == pushed.head_sha
    assert set(moved.analyses.all()) == {first, pushed}
    assert (summary.new, summary.open, summary.fixed, summary.outdated) == (1, 2, 1, 1)
    assert summary.since == first.head_sha


def test_changed_lines_keep_untouched_findings_open(first_push, make_analysis):
    # An incremental review: the new commits touched nothing of deploy.rst's line 4.
    record(make_analysis, review_of(LATER), changed_lines={DEPLOY: {1, 2}})
    assert state("Edited") == "open"
    assert state("File gone") == "outdated"


def test_changed_lines_that_touch_a_finding_let_it_be_fixed(first_push, make_analysis):
    record(make_analysis, review_of(LATER), changed_lines={DEPLOY: {4}})
    assert state("Edited") == "fixed"


def test_a_fixed_finding_raised_again_reopens(first_push, make_analysis):
    record(make_analysis, review_of(LATER))
    assert state("Edited") == "fixed"
    record(make_analysis, review_of(EARLIER, finding(DEPLOY, 4, title="Edited")))
    assert state("Edited") == "open"
    assert Finding.objects.filter(title="Edited").count() == 1


def test_a_dismissed_finding_stays_dismissed_and_is_never_raised_again(first_push, make_analysis):
    Finding.objects.filter(title="Moves").update(state="dismissed", dismissed_by="octocat")
    again = review_of(EARLIER, finding(DEPLOY, 56, title="Moves"), finding(DEPLOY, 57, title="x"))
    analysis = make_analysis(status="running", ledger=False)

    summary = ledger.analysis_complete_with_findings(analysis=analysis, result=again)

    assert summary is not None and summary.dismissed == 1
    assert state("Moves") == "dismissed"
    analysis.refresh_from_db()
    assert [f.title for f in analysis.result.findings] == ["x"]  # not stored, so never posted
    assert not Finding.objects.get(title="Moves").analyses.filter(id=analysis.id).exists()


def test_a_review_that_lost_its_claim_records_nothing(make_analysis):
    analysis = make_analysis(status="failed", ledger=False)
    result = review_result(finding())
    assert ledger.analysis_complete_with_findings(analysis=analysis, result=result) is None
    assert not Finding.objects.exists()


def test_a_row_from_before_anchor_texts_is_adopted_not_duplicated(make_analysis):
    legacy = make_analysis(status="completed", feedback=feedback(finding(DEPLOY, 56, title="W")))
    row = Finding.objects.get()
    assert row.anchor_text == ""
    record(make_analysis, review_of(EARLIER, finding(DEPLOY, 56, title="W")))
    row.refresh_from_db()
    assert Finding.objects.count() == 1
    assert row.anchor_text and row.fingerprint != finding_fingerprint(DEPLOY, "bug", "W")
    assert row.analysis == legacy


def test_the_same_identity_twice_in_one_review_is_one_row_at_its_highest_severity(make_analysis):
    low, high = finding(severity="low"), finding(severity="high", line=11)
    record(make_analysis, review_result(low, high))
    assert Finding.objects.get().severity == "high"


# --- the migration ----------------------------------------------------------------------------

backfill = importlib.import_module("reviews.migrations.0009_backfill_findings_ledger")
# What RunPython hands the function, as far as it looks: the connection to write through.
EDITOR = SimpleNamespace(connection=connection)


def test_the_migration_fills_the_ledger_from_completed_analyses(make_analysis):
    one, two = finding(title="One"), finding(title="Two", severity="high")
    first = make_analysis(status="completed", ledger=False, feedback=feedback(one, two))
    second = make_analysis(
        status="completed", ledger=False, feedback=feedback(replace(one, line=12))
    )
    make_analysis(status="failed", ledger=False, feedback=feedback(finding(title="Never")))
    make_analysis(pr_number=8, status="completed", ledger=False, feedback=feedback(one))

    backfill.backfill_findings(apps, EDITOR)

    rows = {(f.pr_number, f.title): f for f in Finding.objects.all()}
    assert set(rows) == {(7, "One"), (7, "Two"), (8, "One")}
    assert all(f.state == "open" and f.anchor_text == "" for f in rows.values())
    moved = rows[(7, "One")]
    assert moved.fingerprint == one.fingerprint  # what older inline comments' markers carry
    assert (moved.first_seen_sha, moved.last_seen_sha) == (first.head_sha, second.head_sha)
    assert moved.line == 12 and moved.analysis == first
    assert set(moved.analyses.all()) == {first, second}
    assert list(rows[(7, "Two")].analyses.all()) == [first]

    backfill.backfill_findings(apps, EDITOR)  # run again: nothing is added twice
    assert Finding.objects.count() == 3


# --- the analysis API stays as it was ---------------------------------------------------------


def test_the_analysis_detail_output_is_the_same_with_the_ledger(make_analysis):
    stored = feedback(finding(title="One", end_line=12, suggestion="x = 1"), finding(title="Two"))
    analysis = make_analysis(status="completed", ledger=False, feedback=stored)
    before = AnalysisDetailSerializer(Analysis.objects.get(id=analysis.id)).data

    ledger.findings_record(analysis=analysis, result=analysis.result)
    backfill.backfill_findings(apps, EDITOR)
    analysis = Analysis.objects.get(id=analysis.id)
    after = AnalysisDetailSerializer(analysis).data

    assert Finding.objects.count() == 2
    assert after == before
    assert after["findings"] == stored["findings"]
    assert analysis.feedback == stored
