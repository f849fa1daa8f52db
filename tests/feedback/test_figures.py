"""Which kinds of finding people reject: the figures, the admin's overview and the API."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from reviews.admin.common import NONE
from reviews.feedback import figures
from reviews.models import Analysis, FeedbackRead, Finding
from tests.api.test_api import client_with_token

pytestmark = pytest.mark.django_db

OVERVIEW = "/admin/reviews/analysis/overview/"
FEEDBACK_API = "/api/findings/feedback/"
GPT, CLAUDE = "openai/gpt-4o-mini", "anthropic/claude-sonnet-4"
DISMISSED = Finding.State.DISMISSED


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ledger(make_analysis, make_finding):
    """Two models' reviews: style findings people reject, bugs they like; one old review."""
    gpt = make_analysis(status="completed", llm_model=GPT)
    claude = make_analysis(status="completed", llm_model=CLAUDE, pr_number=8)
    old = make_analysis(status="completed", llm_model=GPT, pr_number=9)
    Analysis.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=45))
    make_finding(analysis=gpt, category="style", severity="low", state=DISMISSED, thumbs_down=3)
    make_finding(analysis=gpt, category="style", severity="low", state=DISMISSED, thumbs_down=1)
    make_finding(analysis=gpt, category="style", severity="medium", thumbs_up=1, thumbs_down=1)
    make_finding(analysis=gpt, category="bug", severity="high", thumbs_up=2)
    make_finding(analysis=claude, category="bug", severity="critical", thumbs_up=4)
    make_finding(
        analysis=claude, category="security", severity="high", reactions_read_at=timezone.now()
    )
    make_finding(analysis=old, category="style", severity="low", state=DISMISSED, thumbs_down=9)
    return {"gpt": gpt, "claude": claude}


def by_key(rows: list[figures.FeedbackRow]) -> dict[str, tuple[int, int, int, int]]:
    return {r.key: (r.raised, r.dismissed, r.thumbs_up, r.thumbs_down) for r in rows}


def test_the_figures_group_raised_dismissed_and_thumbs_by_category_severity_and_model(ledger):
    found = figures.finding_feedback(days=30)

    assert by_key(found.by_category) == {
        "bug": (2, 0, 6, 0),
        "security": (1, 0, 0, 0),
        "performance": (0, 0, 0, 0),
        "style": (3, 2, 1, 5),
    }
    assert [r.key for r in found.by_severity] == ["critical", "high", "medium", "low"]
    assert by_key(found.by_severity) == {
        "critical": (1, 0, 4, 0),
        "high": (2, 0, 2, 0),
        "medium": (1, 0, 1, 1),
        "low": (2, 2, 0, 4),
    }
    assert by_key(found.by_model) == {GPT: (4, 2, 3, 5), CLAUDE: (2, 0, 4, 0)}
    assert [r.key for r in found.by_model] == [GPT, CLAUDE]  # most findings first
    assert (found.totals.raised, found.totals.dismissed) == (6, 2)
    assert (found.totals.thumbs_up, found.totals.thumbs_down, found.totals.read) == (7, 5, 1)
    style = next(r for r in found.by_category if r.key == "style")
    assert style.dismissal_rate == pytest.approx(2 / 3)
    performance = next(r for r in found.by_category if r.key == "performance")
    assert performance.dismissal_rate is None


def test_a_longer_window_and_one_repository(ledger, make_analysis, make_finding):
    other = make_analysis(status="completed", llm_model=GPT, repo_full_name="octo/gears")
    make_finding(analysis=other, category="bug", severity="low", thumbs_down=2)

    assert figures.finding_feedback(days=60).totals.raised == 8
    gears = figures.finding_feedback(repo="octo/gears")
    assert (gears.totals.raised, gears.totals.thumbs_down) == (1, 2)
    assert by_key(gears.by_model) == {GPT: (1, 0, 0, 2)}


def test_the_figures_are_grouped_by_the_database_in_one_query(ledger):
    with CaptureQueriesContext(connection) as queries:
        figures.finding_feedback(days=30)
    [query] = queries.captured_queries
    assert "GROUP BY" in query["sql"]


# --- the admin's overview -----------------------------------------------------------------------


def section(html: str, table: str) -> str:
    start = html.index(f'id="prism-feedback-by-{table}"')
    return html[start : html.index("</table>", start)]


def cells(row_html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row_html, re.S)
    ]


def rows(html: str, table: str) -> dict[str, list[str]]:
    body = section(html, table)
    found = {}
    for row in body.split("<tr>")[2:]:
        values = cells(row)
        found[values[0]] = values[1:]
    return found


def test_the_overview_shows_which_kinds_of_finding_people_reject(staff_client, ledger):
    response = staff_client.get(OVERVIEW)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Feedback on findings" in html
    # Raised, dismissed, dismissal rate, 👍, 👎
    assert rows(html, "category")["style"] == ["3", "2", "66.7%", "1", "5"]
    assert rows(html, "category")["bug"] == ["2", "0", "0%", "6", "0"]
    assert rows(html, "category")["performance"] == ["0", "0", NONE, "0", "0"]
    assert rows(html, "severity")["low"] == ["2", "2", "100%", "0", "4"]
    assert rows(html, "model")[GPT] == ["4", "2", "50%", "3", "5"]
    assert rows(html, "model")[CLAUDE] == ["2", "0", "0%", "4", "0"]
    assert 'href="/admin/reviews/finding/?category__exact=style&amp;state__exact=dismissed"' in html
    assert 'href="/admin/reviews/finding/?model=openai%2Fgpt-4o-mini"' in html
    assert "<strong>6</strong> raised · 2 dismissed (33.3%)" in html
    assert 'href="/admin/reviews/feedbackread/"' in html


def test_a_hostile_model_name_is_escaped_in_the_feedback_table(staff_client, make_finding):
    make_finding(llm_model="<script>alert(1)</script>")
    html = staff_client.get(OVERVIEW).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(html, "model")


def test_the_feedback_reads_are_listed_read_only_with_their_errors(staff_client):
    FeedbackRead.objects.create(
        delivery_id="d-1",
        repo_full_name="octo/widgets",
        pr_number=7,
        status="completed",
        comments_read=2,
        comments_missing=1,
        error="comment 201 (finding #4) deleted: GitHub GET … returned 404: Not Found",
    )
    html = staff_client.get("/admin/reviews/feedbackread/").content.decode()
    assert "comment 201 (finding #4) deleted" in html
    assert staff_client.get("/admin/reviews/feedbackread/add/").status_code == 403


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def api(django_user_model):
    return client_with_token(django_user_model.objects.create_user("reader", password="pw-1"))


def test_the_api_exposes_the_same_figures(api, ledger):
    response = api.get(FEEDBACK_API)

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["days"] == 30 and data["repo"] == ""
    style = next(r for r in data["by_category"] if r["key"] == "style")
    assert style == {
        "key": "style",
        "raised": 3,
        "dismissed": 2,
        "dismissal_rate": pytest.approx(2 / 3),
        "thumbs_up": 1,
        "thumbs_down": 5,
        "read": 0,
    }
    assert [r["key"] for r in data["by_severity"]] == ["critical", "high", "medium", "low"]
    assert {r["key"]: r["raised"] for r in data["by_model"]} == {GPT: 4, CLAUDE: 2}
    assert data["totals"]["raised"] == 6 and data["totals"]["read"] == 1
    assert api.get(FEEDBACK_API, {"days": 60}).json()["totals"]["raised"] == 7


def test_the_api_needs_a_token(ledger):
    assert APIClient().get(FEEDBACK_API).status_code == 401


@pytest.mark.parametrize(
    ("query", "name"), [({"days": "0"}, "days"), ({"days": "x"}, "days"), ({"repo": "a b"}, "repo")]
)
def test_a_bad_parameter_is_named_in_a_400(api, query, name):
    response = api.get(FEEDBACK_API, query)
    assert response.status_code == 400
    assert name in response.json()


def test_the_schema_describes_the_feedback_figures(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/findings/feedback/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"days", "repo"}
    [content] = operation["responses"]["200"]["content"].values()
    assert content["schema"]["$ref"].endswith("/FeedbackFigures")
    row = schema["components"]["schemas"]["FeedbackRow"]["properties"]
    assert {"raised", "dismissed", "dismissal_rate", "thumbs_up", "thumbs_down"} <= set(row)


def test_a_finding_in_the_api_carries_its_thumbs(api, make_finding):
    finding = make_finding(thumbs_up=2, thumbs_down=1, reactions_read_at=timezone.now())
    data = api.get(f"/api/findings/{finding.id}/").json()
    assert (data["thumbs_up"], data["thumbs_down"]) == (2, 1)
    assert data["reactions_read_at"]
