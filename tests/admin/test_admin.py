import hashlib
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from reviews.models import Analysis
from tests.factories import feedback, finding

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/reviews/analysis/"
OVERVIEW = "/admin/reviews/analysis/overview/"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def reviewed(make_analysis):
    started = timezone.now() - timedelta(minutes=5)
    return make_analysis(
        status="completed",
        pr_title="Faster widgets",
        llm_model="openai/gpt-4o-mini",
        prompt_tokens=1200,
        completion_tokens=300,
        cost=Decimal("0.002100"),
        started_at=started,
        finished_at=started + timedelta(seconds=12.5),
        feedback=feedback(
            finding(path="src/app.py", line=10, category="bug", severity="high"),
            finding(path="src/app.py", line=42, category="security", severity="critical"),
            finding(path="docs/readme.md", line=3, category="style", severity="low"),
        ),
    )


def actions(client, action: str, analyses: list[Analysis]):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [a.id for a in analyses], "index": 0},
        follow=True,
    )


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- list ----------------------------------------------------------------------------------------


def test_the_list_shows_pull_request_counts_model_tokens_cost_and_duration(staff_client, reviewed):
    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "octo/widgets#7" in html and "Faster widgets" in html
    assert '<strong class="prism-good">Completed</strong>' in html
    assert 'prism-sev-critical">1&nbsp;critical' in html
    assert "$0.0021" in html
    assert "12 s" in html
    assert 'href="/admin/reviews/analysis/overview/"' in html


def test_the_list_needs_a_staff_login(client, reviewed):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_analyses_cannot_be_added_or_edited(staff_client, reviewed):
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
    page = staff_client.get(f"{CHANGELIST}{reviewed.id}/change/").content.decode()
    assert 'name="_save"' not in page
    staff_client.post(f"{CHANGELIST}{reviewed.id}/change/", {"status": "failed"})
    reviewed.refresh_from_db()
    assert reviewed.status == "completed"


def test_a_javascript_pr_url_is_not_linked(staff_client, make_analysis):
    make_analysis(pr_url="javascript:alert(1)", pr_title="x")
    html = staff_client.get(CHANGELIST).content.decode()
    assert "javascript:alert(1)" not in html


@pytest.mark.parametrize(
    ("term", "field"),
    [
        ("octo/gears", "repo_full_name"),
        ("Faster", "pr_title"),
        ("GUID-1234", "delivery_id"),
        ("abcdef12", "head_sha"),
        ("42", "pr_number"),
        ("#42", "pr_number"),
    ],
)
def test_search_finds_by_repository_number_title_delivery_and_sha(
    staff_client, make_analysis, term, field
):
    wanted = make_analysis(
        repo_full_name="octo/gears",
        pr_number=42,
        pr_title="Faster gears",
        delivery_id="GUID-1234",
        head_sha="abcdef12" + "0" * 32,
    )
    make_analysis(pr_number=142, pr_title="Other")
    response = staff_client.get(CHANGELIST, {"q": term})
    assert list(response.context["cl"].result_list) == [wanted]


def test_filters_by_status_repository_category_severity_and_date(staff_client, make_analysis):
    security = make_analysis(
        repo_full_name="octo/gears",
        status="completed",
        feedback=feedback(finding(category="security", severity="high")),
    )
    style = make_analysis(
        status="completed", feedback=feedback(finding(category="style", severity="low"))
    )
    failed = make_analysis(status="failed")
    Analysis.objects.filter(id=failed.id).update(created_at=datetime(2024, 1, 5, tzinfo=UTC))

    def listed(**query):
        response = staff_client.get(CHANGELIST, query)
        assert response.status_code == 200
        return set(response.context["cl"].result_list)

    assert listed(status__exact="failed") == {failed}
    assert listed(repo_full_name="octo/gears") == {security}
    assert listed(category="security") == {security}
    assert listed(category="style") == {style}
    assert listed(min_severity="medium") == {security}
    assert listed(created_at__year="2024") == {failed}


# --- detail --------------------------------------------------------------------------------------


def test_the_detail_shows_findings_by_file_with_links_to_the_lines(staff_client, reviewed):
    response = staff_client.get(f"{CHANGELIST}{reviewed.id}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    digest = hashlib.sha256(b"src/app.py").hexdigest()
    assert f'href="https://github.com/octo/widgets/pull/7/files#diff-{digest}R42"' in html
    assert "<code>src/app.py</code>" in html and "<code>docs/readme.md</code>" in html
    # Most severe first within a file.
    assert html.index(f"{digest}R42") < html.index(f"{digest}R10")
    assert "Files reviewed: 2 of 3" in html
    assert "poetry.lock" in html and "lockfile" in html
    assert "llm" in html and "7.5 s" in html
    assert "<details><summary>Raw feedback JSON</summary>" in html


def test_hostile_findings_are_escaped_everywhere_on_the_detail_page(staff_client, make_analysis):
    analysis = make_analysis(
        status="completed",
        pr_title=HOSTILE,
        feedback=feedback(
            finding(
                path=f"src/{HOSTILE}.py",
                title=HOSTILE,
                body=f"{HOSTILE} [click](javascript:alert(2))",
                suggestion=HOSTILE,
                category=HOSTILE,
            ),
            summary=HOSTILE,
        ),
    )
    html = staff_client.get(f"{CHANGELIST}{analysis.id}/change/").content.decode()
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html


def test_a_failed_review_shows_its_error_and_the_raw_llm_output(staff_client, make_analysis):
    analysis = make_analysis(
        status="failed", error="The model answered invalid JSON.", raw_output=f"{{oops {HOSTILE}"
    )
    html = staff_client.get(f"{CHANGELIST}{analysis.id}/change/").content.decode()
    assert "The model answered invalid JSON." in html
    assert "Raw LLM output" in html
    assert "{oops &lt;script&gt;" in html
    assert "Only completed reviews are posted." in html


def test_the_detail_previews_the_pull_request_comment(staff_client, reviewed):
    html = staff_client.get(f"{CHANGELIST}{reviewed.id}/change/").content.decode()
    preview = html[html.index('id="prism-preview"') :]
    assert "<h3>Prism review</h3>" in preview
    assert "<table>" in preview
    assert "<summary>Markdown</summary>" in preview


def test_a_broken_preview_does_not_break_the_page(staff_client, reviewed):
    with mock.patch("reviews.comments.render.render_review", side_effect=KeyError("findings")):
        response = staff_client.get(f"{CHANGELIST}{reviewed.id}/change/")
    assert response.status_code == 200
    assert "The preview could not be rendered: KeyError" in response.content.decode()


# --- actions -------------------------------------------------------------------------------------


def test_the_rerun_action_queues_one_rerun_per_selected_analysis(
    staff_client, make_analysis, broker, django_capture_on_commit_callbacks
):
    first, second = make_analysis(status="failed"), make_analysis(status="completed")
    with django_capture_on_commit_callbacks(execute=True):
        response = actions(staff_client, "rerun_selected", [first, second])

    reruns = list(Analysis.objects.filter(rerun_of__isnull=False).order_by("id"))
    assert [r.rerun_of_id for r in reruns] == [first.id, second.id]
    assert broker.call_args_list == [mock.call((r.id,)) for r in reruns]
    assert texts(response) == [f"Queued 2 re-run(s): #{reruns[0].id}, #{reruns[1].id}."]


def test_the_repost_action_posts_completed_reviews_and_reports_the_rest(
    staff_client, make_analysis
):
    done, failed = make_analysis(status="completed"), make_analysis(status="failed")
    with mock.patch("reviews.pipeline.publish.repost_comment", return_value=True) as repost:
        response = actions(staff_client, "repost_selected", [done, failed])
    repost.assert_called_once_with(done.id)
    assert texts(response) == [
        "Re-posted 1 comment(s).",
        f"Not re-posted: #{failed.id} is failed, not completed",
    ]


def test_the_repost_action_reports_a_posting_failure(staff_client, make_analysis):
    analysis = make_analysis(status="completed")

    def fail(analysis_id):
        Analysis.objects.filter(id=analysis_id).update(comment_error="summary comment: 403")
        return False

    with mock.patch("reviews.pipeline.publish.repost_comment", side_effect=fail):
        response = actions(staff_client, "repost_selected", [analysis])
    assert texts(response) == [f"Not re-posted: #{analysis.id}: summary comment: 403"]


# --- overview ------------------------------------------------------------------------------------


def test_the_overview_charts_reviews_findings_failures_and_cost(
    staff_client, reviewed, make_analysis
):
    make_analysis(repo_full_name="octo/gears", status="failed", error="GitHub answered 502")
    old = make_analysis(repo_full_name="octo/ancient")
    Analysis.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=45))

    response = staff_client.get(OVERVIEW)
    assert response.status_code == 200
    html = response.content.decode()
    overview = response.context["overview"]
    assert len(overview.days) == 30
    assert sum(total for _, total, _ in overview.days) == 2
    assert overview.by_category == {"bug": 1, "security": 1, "performance": 0, "style": 1}
    assert overview.by_severity["critical"] == 1
    repos = {row["repo_full_name"]: row for row in overview.per_repository}
    assert set(repos) == {"octo/widgets", "octo/gears"}
    assert repos["octo/widgets"]["tokens"] == 1500
    assert repos["octo/gears"]["failures"] == 1
    assert html.count('<svg role="img"') == 3
    assert 'aria-label="Reviews per day"' in html
    assert "GitHub answered 502" in html
    assert "2 reviews, 1 failed" in html
    assert "1,500 tokens · $0.0021" in html
    assert "failed (50%)" in html
    assert 'href="/admin/reviews/analysis/?repo_full_name=octo%2Fgears"' in html


def test_the_overview_counts_a_pull_request_head_once_however_often_it_is_rerun(
    staff_client, make_analysis
):
    first = make_analysis(status="failed", prompt_tokens=1000, cost=Decimal("0.01"))
    make_analysis(
        status="completed",
        rerun_of=first,
        head_sha=first.head_sha,
        pr_number=first.pr_number,
        prompt_tokens=2000,
        cost=Decimal("0.02"),
        llm_model="openai/gpt-4o-mini",
    )
    overview = staff_client.get(OVERVIEW).context["overview"]
    assert overview.totals["reviews"] == 1  # its latest outcome: completed
    assert (overview.totals["completed"], overview.totals["failed"]) == (1, 0)
    assert overview.totals["attempts"] == 2
    assert overview.totals["tokens"] == 3000  # spend counts every run
    assert overview.totals["cost"] == Decimal("0.03")
    models = {row["model"]: row for row in overview.per_model}
    assert models["openai/gpt-4o-mini"]["reviews"] == 1


def test_the_admin_home_links_to_the_overview(staff_client):
    assert f'href="{OVERVIEW}"' in staff_client.get("/admin/").content.decode()


def test_the_overview_escapes_repository_names(staff_client, make_analysis):
    make_analysis(repo_full_name=HOSTILE, prompt_tokens=10)
    html = staff_client.get(OVERVIEW).content.decode()
    assert HOSTILE not in html


def test_the_overview_needs_a_staff_login(client):
    assert client.get(OVERVIEW).status_code == 302


# --- permissions ---------------------------------------------------------------------------------


@pytest.fixture
def view_only_client(client, django_user_model):
    """A staff member with the view permission only."""
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("auditor", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_analysis"))
    client.force_login(viewer)
    return client


@pytest.mark.parametrize("action", ["rerun_selected", "repost_selected"])
def test_view_only_staff_cannot_run_the_write_actions(view_only_client, make_analysis, action):
    analysis = make_analysis(status="completed")
    with (
        mock.patch("reviews.dispatch.queue_rerun") as rerun,
        mock.patch("reviews.pipeline.publish.repost_comment") as repost,
    ):
        page = view_only_client.get(CHANGELIST).content.decode()
        response = actions(view_only_client, action, [analysis])

    assert action not in page  # not even offered
    assert response.status_code == 200
    rerun.assert_not_called()
    repost.assert_not_called()
    assert Analysis.objects.count() == 1


def test_view_only_staff_do_not_see_the_models_raw_output(view_only_client, make_analysis):
    analysis = make_analysis(status="failed", error="unusable", raw_output="it quoted the diff")

    page = view_only_client.get(f"{CHANGELIST}{analysis.id}/change/").content.decode()

    assert "unusable" in page
    assert "it quoted the diff" not in page


# --- the findings ledger -------------------------------------------------------------------------

FINDINGS = "/admin/reviews/finding/"


def test_the_analysis_page_lists_its_ledger_findings_with_their_states(staff_client, reviewed):
    from reviews.models import Finding

    Finding.objects.filter(severity="low").update(state=Finding.State.DISMISSED)
    html = staff_client.get(f"{CHANGELIST}{reviewed.id}/change/").content.decode()
    ledger = html.split('id="prism-ledger"', 1)[1]
    assert "Findings ledger (3)" in ledger
    assert ledger.count("<strong>open</strong>") == 2
    assert ledger.count("<strong>dismissed</strong>") == 1


def test_the_finding_list_filters_by_repository_state_severity_category_and_model(
    staff_client, make_analysis
):
    from reviews.models import Finding

    make_analysis(
        status="completed",
        llm_model="openai/gpt-4o-mini",
        feedback=feedback(finding(category="security", severity="high", title="SQLi")),
    )
    make_analysis(
        repo_full_name="octo/gears",
        status="completed",
        llm_model="anthropic/claude",
        feedback=feedback(finding(category="style", severity="low", title=HOSTILE)),
    )
    Finding.objects.filter(title="SQLi").update(state=Finding.State.FIXED)

    def listed(**query):
        response = staff_client.get(FINDINGS, query)
        assert response.status_code == 200
        return {f.title for f in response.context["cl"].result_list}

    assert listed() == {"SQLi", HOSTILE}
    assert listed(repo_full_name="octo/gears") == {HOSTILE}
    assert listed(state__exact="fixed") == {"SQLi"}
    assert listed(severity="high") == {"SQLi"}
    assert listed(category="style") == {HOSTILE}
    assert listed(model="anthropic/claude") == {HOSTILE}
    html = staff_client.get(FINDINGS).content.decode()
    assert HOSTILE not in html  # escaped like everything from the model


def test_findings_are_read_only_in_the_admin(staff_client, reviewed):
    from reviews.models import Finding

    row = Finding.objects.first()
    assert row is not None
    assert staff_client.get(f"{FINDINGS}add/").status_code == 403
    page = staff_client.get(f"{FINDINGS}{row.id}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert f"#{reviewed.id} @" in page.content.decode()


def test_the_overview_counts_each_finding_once_however_often_it_is_reported(
    staff_client, make_analysis
):
    same = feedback(finding(category="bug", severity="high", title="Null deref"))
    for _ in range(3):  # three pushes raising the same finding
        make_analysis(status="completed", feedback=same)
    overview = staff_client.get(OVERVIEW).context["overview"]
    assert overview.by_category["bug"] == 1
    assert overview.by_severity["high"] == 1


def test_the_detail_shows_the_policy_blob_sha(staff_client, make_analysis):
    analysis = make_analysis(policy_sha="a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0")
    html = staff_client.get(f"{CHANGELIST}{analysis.id}/change/").content.decode()
    assert "Policy blob SHA" in html
    assert "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0" in html


def summary_block(html: str) -> str:
    start = html.index('id="prism-summary"')
    return html[start : html.index("</section>", start)]


def test_the_detail_leads_with_a_summary_of_the_facts_and_the_actions(staff_client, reviewed):
    html = staff_client.get(f"{CHANGELIST}{reviewed.id}/change/").content.decode()
    summary = summary_block(html)
    assert html.index('id="prism-summary"') < html.index('id="prism-findings"')
    assert html.index('id="prism-findings"') < html.index('id="prism-preview"')
    assert '<a href="https://github.com/octo/widgets/pull/7"' in summary
    assert "octo/widgets#7" in summary
    assert "2 of 3 files, 100 of 120 changed lines; skipped 1: 1 lockfile" in summary
    assert "1 critical" in summary and "1 high" in summary and "1 low" in summary
    assert "1,500 tokens · $0.0021" in summary
    assert "12 s" in summary
    assert "Re-run review" in summary and "Re-post comment" in summary
    assert "0.002100" not in html  # one money format on the page, as in the list


def test_posting_says_which_part_failed(staff_client, make_analysis, settings):
    settings.POST_INLINE_COMMENTS = True
    settings.POST_COMMIT_STATUS = True
    analysis = make_analysis(
        status="completed",
        feedback=feedback(finding()),
        comment_url="https://github.com/octo/widgets/pull/7#issuecomment-1",
        comment_error="inline comments: 422 Unprocessable Entity",
    )
    summary = summary_block(staff_client.get(f"{CHANGELIST}{analysis.id}/change/").content.decode())
    assert "comment: " in summary and ">posted</span>" in summary
    assert 'inline comments: <span class="prism-bad">failed</span>: 422' in summary
    assert "commit status: " in summary


def test_an_unanchored_finding_is_marked_outside_the_diff_and_not_linked(
    staff_client, make_analysis
):
    analysis = make_analysis(
        status="completed",
        feedback=feedback(
            finding(line=987654, anchored=False, title="Far away"),
            finding(line=12, title="Near"),
        ),
    )
    html = staff_client.get(f"{CHANGELIST}{analysis.id}/change/").content.decode()
    assert "R987654" not in html
    assert "outside the diff" in html
    assert "R12" in html


@pytest.mark.parametrize("status", ["failed", "queued"])
def test_a_review_that_did_not_run_never_reads_as_a_clean_one(staff_client, make_analysis, status):
    analysis = make_analysis(status=status, error="The model answered invalid JSON.")
    html = staff_client.get(f"{CHANGELIST}{analysis.id}/change/").content.decode()
    assert "No findings" not in html and "Findings (0)" not in html
    assert "not reviewed" in html.lower()
    assert "What to do:" in html
    assert "The model answered invalid JSON." in summary_block(html)


def test_the_page_buttons_rerun_and_repost_and_the_page_lists_who_did_it(
    staff_client, reviewed, admin_user
):
    with mock.patch("reviews.dispatch.queue_rerun") as rerun:
        rerun.return_value = Analysis(id=999)
        response = staff_client.post(f"{CHANGELIST}{reviewed.id}/rerun/", follow=True)
    assert response.status_code == 200
    rerun.assert_called_once()
    with mock.patch("reviews.pipeline.publish.repost_comment", return_value=True):
        staff_client.post(f"{CHANGELIST}{reviewed.id}/repost/")
    html = staff_client.get(f"{CHANGELIST}{reviewed.id}/change/").content.decode()
    audit = html[html.index('id="prism-audit"') :]
    assert "Re-ran the review from the admin: #999." in audit
    assert "Re-posted the comment from the admin." in audit
    assert admin_user.username in audit


def test_the_page_buttons_need_post_and_the_permission(staff_client, view_only_client, reviewed):
    assert staff_client.get(f"{CHANGELIST}{reviewed.id}/rerun/").status_code == 403
    assert view_only_client.post(f"{CHANGELIST}{reviewed.id}/rerun/").status_code == 403
    page = view_only_client.get(f"{CHANGELIST}{reviewed.id}/change/").content.decode()
    assert "Re-run review" not in page


def test_durations_read_the_same_everywhere():
    from reviews.presentation import human_duration

    assert [human_duration(s) for s in (0.926708, 12.4, 185, 3725)] == [
        "0.9 s",
        "12 s",
        "3 min 05 s",
        "1 h 02 min",
    ]


def test_the_list_gives_the_reason_for_a_failure_and_marks_posting_problems(
    staff_client, make_analysis
):
    make_analysis(status="failed", error="the LLM provider rejected the API key (401): bad key")
    posted_badly = make_analysis(
        status="completed",
        feedback=feedback(finding()),
        comment_url="https://github.com/octo/widgets/pull/7#issuecomment-1",
        comment_error="inline comments: 422 Unprocessable Entity",
    )
    make_analysis(status="completed", feedback=feedback(finding()), head_sha="b" * 40)
    html = staff_client.get(CHANGELIST).content.decode()
    assert "the LLM provider rejected the API key (401)" in html
    assert "inline comments not posted" in html
    response = staff_client.get(CHANGELIST, {"posting": "failed"})
    assert list(response.context["cl"].result_list) == [posted_badly]


def test_the_admin_is_branded_prism_and_view_site_leads_to_the_overview(staff_client):
    html = staff_client.get("/admin/").content.decode()
    assert "<title>Site administration | Prism</title>" in html or "| Prism</title>" in html
    assert "Django administration" not in html
    assert f'href="{OVERVIEW}"' in html


def test_the_token_list_leads_with_user_key_created_and_expiry(staff_client, admin_user):
    from knox.models import AuthToken

    token, _ = AuthToken.objects.create(user=admin_user)
    html = staff_client.get("/admin/knox/authtoken/").content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', html)
    assert headers[:5] == ["user", "token_key", "digest_prefix", "created", "expiry"]
    assert f">{token.digest}<" not in html  # only in the checkbox's value
    assert f"{token.digest[:12]}\N{HORIZONTAL ELLIPSIS}" in html
