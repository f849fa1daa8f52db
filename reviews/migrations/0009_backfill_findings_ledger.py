"""Ledger rows for every finding already stored in completed reviews' feedback.

Each pull request's completed analyses are read oldest first: a finding's first analysis
raised it, every analysis holding it reported it, and its fields are the latest report's.
The fingerprint has no anchor text (the diffs are gone), which is also the one earlier
versions wrote into their inline comments, so publishing still recognises those.
"""

from typing import Any

from django.db import migrations

from reviews.results import ReviewResult

BATCH = 500


def backfill_findings(apps: Any, schema_editor: Any) -> None:
    Analysis = apps.get_model("reviews", "Analysis")
    Finding = apps.get_model("reviews", "Finding")
    Reported = Finding.analyses.through
    db = schema_editor.connection.alias if schema_editor else "default"
    # Resumable: a pull request already in the ledger is left alone.
    done = set(Finding.objects.using(db).values_list("repo_full_name", "pr_number").distinct())
    rows: dict[tuple[str, int, str], Any] = {}
    reported: dict[tuple[str, int, str], list[int]] = {}
    completed = (
        Analysis.objects.using(db)
        .filter(status="completed")
        .order_by("created_at", "id")
        .values_list("id", "repo_full_name", "pr_number", "head_sha", "feedback")
    )
    for analysis_id, repo, number, sha, feedback in completed.iterator(chunk_size=BATCH):
        if (repo, number) in done:
            continue
        for finding in ReviewResult.from_json(feedback).findings:
            key = (repo, number, finding.fingerprint)  # anchor_text is "" here
            seen = reported.setdefault(key, [])
            if analysis_id in seen:  # twice in one review: one identity, reported once
                continue
            seen.append(analysis_id)
            row = rows.get(key)
            if row is None:
                row = rows[key] = Finding(
                    repo_full_name=repo,
                    pr_number=number,
                    fingerprint=finding.fingerprint,
                    analysis_id=analysis_id,
                    first_seen_sha=sha,
                    state="open",
                )
            row.last_seen_sha = sha
            row.path = finding.path[:1000]
            row.line = finding.line
            row.end_line = finding.end_line
            row.category = finding.category
            row.severity = finding.severity
            row.title = finding.title
            row.body = finding.body
            row.suggestion = finding.suggestion or ""
            row.anchored = finding.anchored
    created = Finding.objects.using(db).bulk_create(rows.values(), batch_size=BATCH)
    ids = {
        (row.repo_full_name, row.pr_number, row.fingerprint): row.id
        for row in (
            created
            if all(row.id for row in created)  # PostgreSQL and SQLite return the ids
            else Finding.objects.using(db).all()
        )
    }
    Reported.objects.using(db).bulk_create(
        [
            Reported(finding_id=ids[key], analysis_id=analysis_id)
            for key, analysis_ids in reported.items()
            for analysis_id in analysis_ids
        ],
        batch_size=BATCH,
    )


class Migration(migrations.Migration):
    dependencies = [("reviews", "0008_findings_ledger")]

    operations = [migrations.RunPython(backfill_findings, migrations.RunPython.noop)]
