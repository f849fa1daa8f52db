"""Scenario 7: hostile input at the front door, against the live gunicorn.

Fuzzed bodies, headers and content types on the webhook (2,000 cases), a body over GitHub's
25 MB cap, and the API without credentials or without staff rights.
"""

import json
from collections import Counter

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviews.github.signatures import sign
from tests.e2e.helpers import TALLY, pull_request_event, sha

pytestmark = pytest.mark.e2e

UNSIGNED_CASES = 1200
SIGNED_CASES = 800


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        # A live server is not a pure function: don't replay examples across runs.
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Header values travel as latin-1 at most; printable ASCII covers what a proxy lets through
# (requests itself refuses a value with leading whitespace).
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(
    str.lstrip
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded",
            "text/plain",
            "multipart/form-data; boundary=xyz",
            "",
        ]
    ),
    header_text,
)
events = st.one_of(
    st.sampled_from(["pull_request", "ping", "push", "issues", "PULL_REQUEST", ""]), header_text
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
REAL = json.loads(pull_request_event("opened", "e2e-fuzz/widgets", 1, sha("fuzz"), "fuzz"))


@st.composite
def mutated_payloads(draw) -> bytes:
    """A real pull_request payload with one field replaced by something else."""
    data = json.loads(json.dumps(REAL))
    target = draw(st.sampled_from(["action", "number", "pull_request", "repository", "head"]))
    value = draw(json_values)
    if target == "head":
        data["pull_request"]["head"] = value
    elif target == "number":
        data["pull_request"]["number"] = value
    else:
        data[target] = value
    return json.dumps(data).encode()


bodies = st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.text(max_size=500).map(lambda t: ("payload=" + t).encode()),
    mutated_payloads(),
)


def counted(response: requests.Response, answers: Counter) -> None:
    answers[response.status_code] += 1
    with TALLY.lock:
        TALLY.deliveries += 1
        TALLY.server_errors += response.status_code >= 500


@pytest.fixture(scope="module")
def session():
    with requests.Session() as session:  # keep-alive: 2,000 requests, not 2,000 handshakes
        yield session


def test_two_thousand_fuzzed_deliveries_get_no_5xx_and_unsigned_ones_store_nothing(stack, session):
    answers: Counter = Counter()
    before = stack.db.count_analyses()

    @fuzz(UNSIGNED_CASES)
    @given(
        body=bodies,
        event=events,
        delivery=header_text,
        content_type=content_types,
        signature=st.one_of(
            st.none(),
            header_text,
            st.binary(min_size=1, max_size=64).map(lambda b: sign("not-the-secret", b)),
            st.just("sha256=" + "0" * 64),
        ),
    )
    def unsigned(body, event, delivery, content_type, signature):
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
        headers["Content-Type"] = content_type
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        response = session.post(stack.webhook_url, data=body, headers=headers, timeout=30)
        counted(response, answers)
        assert response.status_code == 401, response.text

    @fuzz(SIGNED_CASES)
    @given(body=bodies, event=events, delivery=header_text, content_type=content_types)
    def signed(body, event, delivery, content_type):
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "Content-Type": content_type,
            "X-Hub-Signature-256": sign(stack.secrets.webhook_secret, body),
        }
        response = session.post(stack.webhook_url, data=body, headers=headers, timeout=30)
        counted(response, answers)
        assert response.status_code < 500, response.text

    unsigned()
    assert stack.db.count_analyses() == before  # not one row from an unsigned request
    signed()

    assert sum(answers.values()) >= UNSIGNED_CASES + SIGNED_CASES
    assert not [code for code in answers if code >= 500], answers


def test_a_body_over_githubs_25_mb_cap_is_refused_with_413(stack):
    body = b"{" + b" " * (26 * 1024 * 1024) + b"}"

    response = stack.deliver(body)

    assert response.status_code == 413


@pytest.fixture(scope="module")
def tokens(stack):
    stack.prism.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import Permission, User; "
        "User.objects.create_user('e2e-viewer'); "
        "staff = User.objects.create_user('e2e-staff', is_staff=True); "
        "staff.user_permissions.add(Permission.objects.get(codename='rerun_analysis'))",
    )
    return {
        name: stack.prism.manage("create_api_token", name).strip().splitlines()[-1]
        for name in ("e2e-viewer", "e2e-staff")
    }


def test_the_api_answers_401_without_a_token_or_with_a_wrong_one(stack, tokens):
    url = f"{stack.prism.url}/api/analyses/"

    assert requests.get(url, timeout=10).status_code == 401
    wrong = {"Authorization": "Token prism_" + "0" * 64}
    assert requests.get(url, headers=wrong, timeout=10).status_code == 401
    right = {"Authorization": f"Token {tokens['e2e-viewer']}"}
    assert requests.get(url, headers=right, timeout=10).status_code == 200


def test_only_staff_may_rerun_a_review_through_the_api(stack, tokens):
    repo = "e2e-api/widgets"
    stack.open_pull(repo, 1, diff="01-plain-modification")
    [analysis] = stack.wait_for_reviews(repo, 1)
    url = f"{stack.prism.url}/api/analyses/{analysis['id']}/rerun/"
    before = stack.db.count_analyses()

    viewer = {"Authorization": f"Token {tokens['e2e-viewer']}"}
    assert requests.post(url, headers=viewer, timeout=10).status_code == 403
    assert requests.post(url, timeout=10).status_code == 401
    assert stack.db.count_analyses() == before

    staff = {"Authorization": f"Token {tokens['e2e-staff']}"}
    assert requests.post(url, headers=staff, timeout=10).status_code == 202
    rows = stack.wait_for_reviews(repo, 2)
    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert len(stack.github.comment_posts(repo, 1)) == 1  # the re-run edits the same comment
