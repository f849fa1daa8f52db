from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.test import APIClient

from reviews import audit
from reviews.models import Analysis
from tests.factories import feedback, finding

pytestmark = pytest.mark.django_db

LIST = "/api/analyses/"


@pytest.fixture(autouse=True)
def _fresh_throttle():
    # The throttle counts in the cache; a test must not inherit another's requests.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("reader", password="pw-reader-1")


@pytest.fixture
def staff(django_user_model):
    """An operator who may re-run reviews and read the model's raw output."""
    operator = django_user_model.objects.create_user("operator", password="pw-op-1", is_staff=True)
    operator.user_permissions.set(
        Permission.objects.filter(codename__in=["rerun_analysis", "view_raw_output"])
    )
    return operator


def client_with_token(user) -> APIClient:
    _, key = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api(user):
    return client_with_token(user)


@pytest.fixture
def staff_api(staff):
    return client_with_token(staff)


def created(analysis: Analysis, when: datetime) -> Analysis:
    """created_at is set on insert; move it to `when`."""
    Analysis.objects.filter(id=analysis.id).update(created_at=when)
    analysis.refresh_from_db()
    return analysis


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


# --- authentication and permissions ---------------------------------------------------------


def test_a_request_without_credentials_gets_401_with_a_token_challenge(make_analysis):
    response = APIClient().get(LIST)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_gets_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token prism_not-a-real-token-at-all")
    assert client.get(LIST).status_code == 401


def test_a_valid_token_gets_200(api, make_analysis):
    make_analysis()
    response = api.get(LIST)
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_an_expired_token_gets_401(user):
    _, key = AuthToken.objects.create(user=user, expiry=timedelta(seconds=-1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(LIST).status_code == 401


def test_a_token_of_an_inactive_user_gets_401(user):
    client = client_with_token(user)
    user.is_active = False
    user.save()
    assert client.get(LIST).status_code == 401


def test_tokens_are_stored_hashed_never_as_the_key(user):
    instance, key = AuthToken.objects.create(user=user)
    assert key.startswith("prism_")
    stored = AuthToken.objects.get(pk=instance.pk)
    assert key not in (stored.digest, stored.token_key)
    assert len(stored.digest) == 128  # SHA-512 hex


def test_a_session_login_gets_200(client, user, make_analysis):
    make_analysis()
    client.force_login(user)
    assert client.get(LIST).status_code == 200


def test_a_non_staff_user_cannot_rerun(api, make_analysis, broker):
    analysis = make_analysis(status="failed")
    response = api.post(f"{LIST}{analysis.id}/rerun/")
    assert response.status_code == 403
    assert Analysis.objects.count() == 1
    broker.assert_not_called()


def test_an_anonymous_rerun_gets_401(make_analysis, broker):
    analysis = make_analysis()
    assert APIClient().post(f"{LIST}{analysis.id}/rerun/").status_code == 401


def test_a_staff_rerun_answers_202_with_the_new_analysis(
    staff_api, staff, make_analysis, broker, django_capture_on_commit_callbacks
):
    analysis = make_analysis(status="failed", error="LLM down")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(f"{LIST}{analysis.id}/rerun/")

    assert response.status_code == 202
    rerun = Analysis.objects.exclude(id=analysis.id).get()
    body = response.json()
    assert body["id"] == rerun.id
    assert body["rerun_of"] == analysis.id
    assert body["status"] == "queued"
    assert (rerun.head_sha, rerun.pr_number) == (analysis.head_sha, analysis.pr_number)
    broker.assert_called_once_with((rerun.id,))
    # Who re-ran it, and when, is on the analysis page (Django's admin log).
    [entry] = audit.entries(analysis)
    assert entry.change_message == f"Re-ran the review through the API: #{rerun.id}."
    assert entry.user == staff


def test_it_lets_a_staff_member_logged_in_to_the_admin_rerun_and_read_the_raw_output(
    staff_client, make_analysis, broker, django_capture_on_commit_callbacks
):
    analysis = make_analysis(status="failed", raw_output="{not json")
    assert staff_client.get(f"{LIST}{analysis.id}/").json()["raw_output"] == "{not json"

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{LIST}{analysis.id}/rerun/")

    assert response.status_code == 202, response.content
    rerun = Analysis.objects.get(rerun_of=analysis)
    broker.assert_called_once_with((rerun.id,))


def test_rerun_of_an_unknown_analysis_is_404(staff_api, broker):
    assert staff_api.post(f"{LIST}999999/rerun/").status_code == 404


def test_the_api_is_read_only(staff_api, make_analysis):
    analysis = make_analysis()
    assert staff_api.post(LIST, {"repo_full_name": "x/y"}).status_code == 405
    assert staff_api.delete(f"{LIST}{analysis.id}/").status_code == 405
    assert staff_api.patch(f"{LIST}{analysis.id}/", {"status": "completed"}).status_code == 405


# --- list, detail -----------------------------------------------------------------------------


def test_the_list_shows_a_compact_row_with_counts(api, make_analysis):
    make_analysis(
        status="completed",
        raw_output="secret-ish raw answer",
        feedback=feedback(
            finding(category="bug", severity="high"),
            finding(category="bug", severity="low"),
            finding(category="security", severity="critical"),
        ),
    )
    (row,) = api.get(LIST).json()["results"]
    assert set(row) == {
        "id",
        "repo_full_name",
        "pr_number",
        "pr_title",
        "status",
        "head_sha",
        "counts",
        "created_at",
        "finished_at",
    }
    assert row["counts"] == {
        "total": 3,
        "by_category": {"bug": 2, "security": 1},
        "by_severity": {"critical": 1, "high": 1, "low": 1},
        "top_severity": "critical",
    }


def test_a_row_without_findings_counts_zero(api, make_analysis):
    make_analysis(status="failed", feedback={})
    (row,) = api.get(LIST).json()["results"]
    assert row["counts"] == {
        "total": 0,
        "by_category": {},
        "by_severity": {},
        "top_severity": None,
    }


def test_the_detail_has_findings_coverage_usage_timings_and_comment_state(api, make_analysis):
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    analysis = make_analysis(
        status="completed",
        feedback=feedback(finding(title="Off by one")),
        llm_model="openai/gpt-4o-mini",
        prompt_tokens=1200,
        completion_tokens=300,
        comment_url="https://github.com/octo/widgets/pull/7#issuecomment-1",
        comment_posted_at=now,
        comment_error="inline comments: 422",
        started_at=now,
        finished_at=now + timedelta(seconds=8.5),
        raw_output="the model said",
    )
    body = api.get(f"{LIST}{analysis.id}/").json()
    assert body["findings"][0]["title"] == "Off by one"
    assert body["coverage"]["files_reviewed"] == 2
    assert body["usage"]["model"] == "openai/gpt-4o-mini"
    assert body["timings"] == {"fetch": 0.4, "parse": 0.01, "llm": 7.5}
    assert body["summary"] == "Two small problems."
    assert body["comment_url"].endswith("#issuecomment-1")
    assert body["comment_error"] == "inline comments: 422"
    assert body["comment_posted_at"] == "2025-03-01T12:00:00Z"
    assert body["duration_seconds"] == 8.5
    assert (body["prompt_tokens"], body["completion_tokens"]) == (1200, 300)
    assert "raw_output" not in body
    assert "feedback" not in body


def test_the_detail_of_a_failed_review_has_empty_parts_and_the_error(api, make_analysis):
    analysis = make_analysis(status="failed", error="LLM answered 500")
    body = api.get(f"{LIST}{analysis.id}/").json()
    assert body["error"] == "LLM answered 500"
    assert (body["findings"], body["coverage"], body["summary"]) == ([], {}, "")
    assert body["duration_seconds"] is None


def test_staff_see_the_raw_output_in_the_detail(staff_api, make_analysis):
    analysis = make_analysis(status="failed", raw_output="{not json")
    assert staff_api.get(f"{LIST}{analysis.id}/").json()["raw_output"] == "{not json"


def test_the_list_is_newest_first(api, make_analysis):
    base = datetime(2025, 1, 1, tzinfo=UTC)
    old = created(make_analysis(), base)
    new = created(make_analysis(), base + timedelta(days=2))
    middle = created(make_analysis(), base + timedelta(days=1))
    assert ids(api.get(LIST)) == [new.id, middle.id, old.id]


# --- pagination ---------------------------------------------------------------------------------


@pytest.fixture
def many(make_analysis):
    return [make_analysis() for _ in range(105)]


def test_the_list_pages_20_by_default(api, many):
    body = api.get(LIST).json()
    assert body["count"] == 105
    assert len(body["results"]) == 20
    assert "limit=20" in body["next"] and "offset=20" in body["next"]
    assert body["previous"] is None


def test_limit_and_offset_page_through_the_list(api, many):
    newest_first = sorted((a.id for a in many), reverse=True)
    assert ids(api.get(LIST, {"limit": 5, "offset": 10})) == newest_first[10:15]


def test_a_page_holds_at_most_100(api, many):
    assert len(ids(api.get(LIST, {"limit": 500}))) == 100


# --- filters ------------------------------------------------------------------------------------


def test_it_filters_by_repository_pr_number_and_status(api, make_analysis):
    wanted = make_analysis(repo_full_name="octo/gears", pr_number=12, status="completed")
    make_analysis(repo_full_name="octo/gears", pr_number=12, status="failed")
    make_analysis(repo_full_name="octo/gears", pr_number=13, status="completed")
    make_analysis(repo_full_name="octo/widgets", pr_number=12, status="completed")

    query = {"repo_full_name": "octo/gears", "pr_number": 12, "status": "completed"}
    assert ids(api.get(LIST, query)) == [wanted.id]
    assert len(ids(api.get(LIST, {"repo_full_name": "octo/gears"}))) == 3
    assert len(ids(api.get(LIST, {"status": "failed"}))) == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"created_after": "2025-01-02"}, ["jan2", "jan3"]),
        ({"created_before": "2025-01-02"}, ["jan1"]),
        ({"created_after": "2025-01-01T12:00:00Z", "created_before": "2025-01-03"}, ["jan2"]),
        ({"created_after": "2025-01-02T11:00:00+02:00"}, ["jan2", "jan3"]),
        ({"created_after": "2025-01-02T10:00:01"}, ["jan3"]),
    ],
)
def test_it_filters_by_creation_date_and_datetime(api, make_analysis, query, expected):
    made = {
        name: created(make_analysis(), datetime(2025, 1, day, 10, 0, tzinfo=UTC))
        for day, name in ((1, "jan1"), (2, "jan2"), (3, "jan3"))
    }
    names = {a.id: name for name, a in made.items()}
    assert sorted(names[i] for i in ids(api.get(LIST, query))) == expected


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("created_after", "yesterday"),
        ("created_before", "2025-13-01"),
        ("created_after", "2025-01-01T25:00"),
    ],
)
def test_a_bad_date_gets_a_400_with_a_clear_message(api, param, value):
    response = api.get(LIST, {param: value})
    assert response.status_code == 400
    assert "ISO 8601 date or date-time" in response.json()[param][0]


@pytest.mark.parametrize(
    ("param", "value"),
    [("status", "done"), ("min_severity", "urgent"), ("pr_number", "seven")],
)
def test_other_bad_values_get_a_400_naming_the_parameter(api, param, value):
    response = api.get(LIST, {param: value})
    assert response.status_code == 400
    assert param in response.json()


@pytest.fixture
def by_top_severity(make_analysis):
    """One analysis per highest severity, plus ones that must never match.

    Each on its own pull request: on one, the same finding is one ledger row whatever review
    reported it."""
    made = {
        severity: make_analysis(
            status="completed",
            pr_number=number,
            feedback=feedback(finding(severity="low"), finding(severity=severity, title="Top")),
        )
        for number, severity in enumerate(("low", "medium", "high", "critical"), start=100)
    }
    made["none"] = make_analysis(status="completed", feedback=feedback())
    made["failed"] = make_analysis(status="failed", feedback={})
    made["odd"] = make_analysis(feedback={"findings": {"severity": "critical"}})
    made["strings"] = make_analysis(feedback={"findings": ["critical", 3, None]})
    # A hostile title quoting JSON must not pass for a critical finding.
    made["quoted"] = make_analysis(
        status="completed",
        pr_number=200,
        feedback=feedback(finding(severity="low", title='"severity": "critical"')),
    )
    return made


@pytest.mark.parametrize(
    ("minimum", "expected"),
    [
        ("low", {"low", "medium", "high", "critical", "quoted"}),
        ("medium", {"medium", "high", "critical"}),
        ("high", {"high", "critical"}),
        ("critical", {"critical"}),
    ],
)
def test_min_severity_keeps_analyses_with_a_finding_at_or_above_it(
    api, by_top_severity, minimum, expected
):
    names = {a.id: name for name, a in by_top_severity.items()}
    found = {names[i] for i in ids(api.get(LIST, {"min_severity": minimum}))}
    assert found == expected


def test_min_severity_combines_with_other_filters(api, by_top_severity):
    response = api.get(LIST, {"min_severity": "high", "status": "completed", "limit": 1})
    assert response.json()["count"] == 2
    assert len(response.json()["results"]) == 1


# --- throttling, schema, docs -------------------------------------------------------------------


def test_requests_beyond_the_rate_are_throttled_per_user(api, user, staff, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "2/minute"},
    }
    assert api.get(LIST).status_code == 200
    assert api.get(LIST).status_code == 200
    throttled = api.get(LIST)
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    # Another user has a budget of their own.
    assert client_with_token(staff).get(LIST).status_code == 200


def test_the_openapi_schema_describes_the_api_only(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/analyses/",
        "/api/analyses/{id}/",
        "/api/analyses/{id}/rerun/",
        "/api/findings/",
        "/api/findings/feedback/",
        "/api/findings/{id}/",
        "/api/commands/",
        "/api/commands/{id}/",
        "/api/repositories/{owner}/{repo}/policy/",
    }
    parameters = {p["name"] for p in schema["paths"]["/api/analyses/"]["get"]["parameters"]}
    assert {"min_severity", "created_after", "created_before", "limit", "offset"} <= parameters
    assert "knoxApiToken" in schema["components"]["securitySchemes"]


def test_the_schema_and_docs_need_authentication(client, user):
    assert APIClient().get("/api/schema/").status_code == 401
    logged_out = client.get("/api/docs/")
    # A person without a session is offered the admin's login, which brings them back.
    assert logged_out.status_code == 302
    assert logged_out["Location"] == "/admin/login/?next=%2Fapi%2Fdocs%2F"
    client.force_login(user)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html  # served from the sidecar package: no internet needed


def test_settings_refuse_a_bad_throttle_rate_with_a_clear_message():
    from tests.test_settings import run_settings

    result = run_settings({"SECRET_KEY": "x", "API_THROTTLE_RATE": "lots"})
    assert result.returncode != 0
    assert "API_THROTTLE_RATE must look like 1000/hour" in result.stderr
    assert run_settings({"SECRET_KEY": "x", "API_THROTTLE_RATE": "50/minute"}).returncode == 0


def test_a_cache_url_puts_the_throttle_on_redis():
    import subprocess
    import sys

    from tests.fixtures import REPO_ROOT

    code = "import prism.settings as s; print(s.CACHES['default']['BACKEND'])"
    env = {"PYTHONPATH": str(REPO_ROOT), "PRISM_ENV_FILE": "/nonexistent", "SECRET_KEY": "x"}
    run = [sys.executable, "-c", code]
    default = subprocess.run(run, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert default.stdout.strip() == "django.core.cache.backends.locmem.LocMemCache"
    redis = subprocess.run(
        run,
        cwd=REPO_ROOT,
        env={**env, "CACHE_URL": "redis://127.0.0.1:6379/1"},
        capture_output=True,
        text=True,
    )
    assert redis.stdout.strip() == "django.core.cache.backends.redis.RedisCache"


def test_the_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))
    assert "/api/analyses/{id}/rerun/" in (tmp_path / "s.yml").read_text()


@pytest.mark.parametrize(
    ("param", "value"),
    [
        # Past year 9999 once in UTC: it used to reach the database and answer 500.
        ("created_after", "9999-12-31T23:59:59-23:59"),
        ("created_before", "0001-01-01T00:00:00+05:00"),
        ("pr_number", str(2**31)),
        ("pr_number", "1e400"),
    ],
)
def test_out_of_range_values_get_a_400_not_a_500(api, make_analysis, param, value):
    make_analysis()
    response = api.get(LIST, {param: value})
    assert response.status_code == 400
    assert param in response.json()


@pytest.fixture
def view_only_staff_api(django_user_model):
    """Staff with the view permission only: they read reviews and act on nothing."""
    viewer = django_user_model.objects.create_user("auditor", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_analysis"))
    return client_with_token(viewer)


def test_view_only_staff_cannot_rerun_through_the_api(view_only_staff_api, make_analysis, broker):
    analysis = make_analysis(status="failed")

    response = view_only_staff_api.post(f"{LIST}{analysis.id}/rerun/")

    assert response.status_code == 403
    assert Analysis.objects.count() == 1
    broker.assert_not_called()


def test_view_only_staff_do_not_see_the_models_raw_output(view_only_staff_api, make_analysis):
    analysis = make_analysis(status="failed", raw_output="it quoted the diff")

    body = view_only_staff_api.get(f"{LIST}{analysis.id}/").json()

    assert "raw_output" not in body
