from unittest import mock

import pytest
import responses

from tests.openapi import assert_valid_request


@pytest.fixture
def feedback_broker():
    """The broker, for feedback reads: every read handed to it is a call of this mock."""
    with mock.patch("reviews.tasks.read_feedback.apply_async") as apply_async:
        yield apply_async


@pytest.fixture
def github():
    """GitHub at the transport: every request registered must be sent, and every request sent
    must be one GitHub's REST description accepts."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        for call in mock.calls:
            assert_valid_request(call.request)


@pytest.fixture
def make_finding(make_analysis):
    """A ledger finding of octo/widgets#7, raised by a completed review (override any field)."""
    from reviews.models import Analysis, Finding

    counter = iter(range(1, 1_000_000))

    def make(*, analysis=None, llm_model="openai/gpt-4o-mini", **fields):
        n = next(counter)
        if analysis is None:
            analysis = make_analysis(status=Analysis.Status.COMPLETED, llm_model=llm_model)
        defaults = {
            "repo_full_name": analysis.repo_full_name,
            "pr_number": analysis.pr_number,
            "fingerprint": f"{n:016x}",
            "analysis": analysis,
            "path": "src/app.py",
            "line": n,
            "category": "bug",
            "severity": "high",
            "title": f"Finding {n}",
            "anchored": True,
            "first_seen_sha": analysis.head_sha,
            "last_seen_sha": analysis.head_sha,
        }
        defaults.update(fields)
        return Finding.objects.create(**defaults)

    return make
