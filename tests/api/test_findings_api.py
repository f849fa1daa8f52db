"""`GET /api/findings/`: the findings ledger, filtered and paged like the analyses."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from reviews.models import Finding
from tests.api.test_api import client_with_token
from tests.factories import feedback, finding

pytestmark = pytest.mark.django_db

LIST = "/api/findings/"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(django_user_model):
    return client_with_token(django_user_model.objects.create_user("reader", password="pw-1"))


@pytest.fixture
def ledger(make_analysis):
    """Two pull requests' findings; one of them fixed by a later push, one dismissed."""
    first = make_analysis(
        status="completed",
        llm_model="openai/gpt-4o-mini",
        feedback=feedback(
            finding(path="src/app.py", category="bug", severity="high", title="Null deref"),
            finding(path="src/app.py", category="security", severity="critical", title="SQLi"),
            finding(path="docs/readme.md", category="style", severity="low", title="Typo"),
        ),
    )
    other = make_analysis(
        repo_full_name="octo/gears",
        pr_number=3,
        status="completed",
        feedback=feedback(finding(path="lib/gear.py", severity="medium", title="Leak")),
    )
    Finding.objects.filter(title="Typo").update(state=Finding.State.DISMISSED)
    Finding.objects.filter(title="Null deref").update(state=Finding.State.FIXED)
    return {"first": first, "other": other}


def titles(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["title"] for row in response.json()["results"]}


def test_it_needs_authentication(ledger):
    assert APIClient().get(LIST).status_code == 401


def test_it_lists_every_finding_once_with_its_state_and_identity(api, ledger):
    body = api.get(LIST).json()
    assert body["count"] == 4
    row = next(r for r in body["results"] if r["title"] == "SQLi")
    assert row["state"] == "open"
    assert row["analysis"] == ledger["first"].id
    assert row["first_seen_sha"] == row["last_seen_sha"] == ledger["first"].head_sha
    assert len(row["fingerprint"]) == 16
    assert (row["repo_full_name"], row["pr_number"], row["path"]) == (
        "octo/widgets",
        7,
        "src/app.py",
    )
    assert api.get(f"{LIST}{row['id']}/").json()["title"] == "SQLi"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"repo": "octo/gears"}, {"Leak"}),
        ({"pr_number": 7}, {"Null deref", "SQLi", "Typo"}),
        ({"state": "open"}, {"SQLi", "Leak"}),
        ({"state": "dismissed"}, {"Typo"}),
        ({"severity": "high"}, {"Null deref"}),
        ({"min_severity": "high"}, {"Null deref", "SQLi"}),
        ({"category": "security"}, {"SQLi"}),
        ({"path": "docs/readme.md"}, {"Typo"}),
        ({"repo": "octo/widgets", "state": "open", "min_severity": "medium"}, {"SQLi"}),
    ],
)
def test_it_filters(api, ledger, query, expected):
    assert titles(api.get(LIST, query)) == expected


def test_it_filters_by_the_analyses_that_reported_a_finding(api, ledger, make_analysis):
    first = ledger["first"]
    # A later push raises the SQL injection again; the fixed and dismissed ones it does not.
    pushed = make_analysis(
        status="completed",
        feedback=feedback(
            finding(path="src/app.py", category="security", severity="critical", title="SQLi")
        ),
    )
    assert titles(api.get(LIST, {"analysis": first.id})) == {"Null deref", "SQLi", "Typo"}
    assert titles(api.get(LIST, {"analysis": pushed.id})) == {"SQLi"}
    assert titles(api.get(LIST, {"analysis": 999_999})) == set()


def test_it_pages_with_limit_and_offset_newest_first(api, ledger):
    page = api.get(LIST, {"limit": 2, "offset": 1}).json()
    everything = [row["id"] for row in api.get(LIST).json()["results"]]
    assert everything == sorted(everything, reverse=True)
    assert page["count"] == 4
    assert [row["id"] for row in page["results"]] == everything[1:3]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("state", "closed"),
        ("severity", "urgent"),
        ("min_severity", "urgent"),
        ("category", "typo"),
        ("pr_number", "seven"),
        ("pr_number", "1.5"),
        ("pr_number", str(2**31)),
        ("analysis", "x"),
        ("analysis", str(2**63)),
    ],
)
def test_bad_values_get_a_400_naming_the_parameter(api, param, value):
    response = api.get(LIST, {param: value})
    assert response.status_code == 400
    assert param in response.json()


def test_it_is_read_only(api, ledger):
    row = Finding.objects.first()
    assert row is not None
    assert api.post(LIST, {"title": "x"}).status_code == 405
    assert api.patch(f"{LIST}{row.id}/", {"state": "dismissed"}).status_code == 405
    assert api.delete(f"{LIST}{row.id}/").status_code == 405


def test_the_schema_documents_the_filters(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = {p["name"] for p in schema["paths"]["/api/findings/"]["get"]["parameters"]}
    assert {
        "repo",
        "pr_number",
        "state",
        "severity",
        "min_severity",
        "category",
        "path",
        "analysis",
        "limit",
        "offset",
    } <= parameters
