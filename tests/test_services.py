from datetime import timedelta

import pytest
from django.utils import timezone

from reviews import services
from reviews.models import Analysis
from reviews.services import Claim
from reviews.tasks import sweep_stale_analyses

pytestmark = pytest.mark.django_db


def test_a_queued_review_is_claimed_once(make_analysis):
    analysis = make_analysis()

    assert services.analysis_claim(analysis_id=analysis.id) is Claim.CLAIMED
    assert services.analysis_claim(analysis_id=analysis.id) is Claim.BUSY

    analysis.refresh_from_db()
    assert analysis.status == "running"
    assert analysis.attempts == 1
    assert analysis.lease_expires_at > timezone.now()


def test_a_review_whose_lease_expired_is_claimed_again(make_analysis):
    analysis = make_analysis(
        status="running", attempts=1, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert services.analysis_claim(analysis_id=analysis.id) is Claim.CLAIMED
    analysis.refresh_from_db()
    assert analysis.attempts == 2


def test_a_review_that_keeps_killing_its_worker_ends_failed(make_analysis, settings):
    analysis = make_analysis(
        status="running",
        attempts=settings.REVIEW_MAX_ATTEMPTS,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert services.analysis_claim(analysis_id=analysis.id) is Claim.EXHAUSTED
    analysis.refresh_from_db()
    assert analysis.status == "failed"
    assert "interrupted 3 times" in analysis.error


@pytest.mark.parametrize("status", ["completed", "failed", "skipped", "superseded"])
def test_a_finished_review_is_never_claimed(make_analysis, status):
    analysis = make_analysis(status=status)
    assert services.analysis_claim(analysis_id=analysis.id) is Claim.BUSY
    analysis.refresh_from_db()
    assert analysis.status == status


def test_a_released_review_can_be_claimed_by_its_retry(make_analysis):
    analysis = make_analysis()
    services.analysis_claim(analysis_id=analysis.id)

    services.analysis_release(analysis_id=analysis.id, error="GitHub answered 502")

    analysis.refresh_from_db()
    assert (analysis.status, analysis.error) == ("queued", "GitHub answered 502")
    assert services.analysis_claim(analysis_id=analysis.id) is Claim.CLAIMED


def test_finishing_a_review_someone_else_finished_changes_nothing(make_analysis):
    analysis = make_analysis(status="superseded")
    assert not services.analysis_finish(analysis_id=analysis.id, status="completed")
    analysis.refresh_from_db()
    assert analysis.status == "superseded"


def test_the_sweep_finds_what_the_broker_never_had_lost_or_abandoned(make_analysis, settings):
    now = timezone.now()
    lease = timedelta(seconds=settings.REVIEW_LEASE_SECONDS)
    never_dispatched = make_analysis(dispatched_at=None)
    lost = make_analysis(dispatched_at=now - lease - timedelta(seconds=5))
    abandoned = make_analysis(
        status="running",
        lease_expires_at=now - timedelta(seconds=1),
        dispatched_at=now - lease - timedelta(seconds=2),
    )
    # Abandoned too, but the sweep re-sent it a moment ago.
    make_analysis(status="running", lease_expires_at=now - timedelta(seconds=1), dispatched_at=now)
    make_analysis(dispatched_at=now)  # just handed to the broker
    make_analysis(status="running", lease_expires_at=now + lease)  # being reviewed
    make_analysis(status="completed", dispatched_at=None)

    expected = [never_dispatched.id, lost.id, abandoned.id]
    assert services.analyses_needing_dispatch(now=now) == expected


def test_the_sweep_dispatches_and_marks_what_it_sent(make_analysis, broker):
    analysis = make_analysis(dispatched_at=None)
    assert sweep_stale_analyses() == 1
    broker.assert_called_once_with((analysis.id,))
    analysis.refresh_from_db()
    assert analysis.dispatched_at is not None
    assert services.analyses_needing_dispatch() == []


def test_the_sweep_survives_a_broker_that_is_still_down(make_analysis, broker):
    analysis = make_analysis(dispatched_at=None)
    broker.side_effect = ConnectionError("down")
    assert sweep_stale_analyses() == 0
    assert Analysis.objects.get(id=analysis.id).dispatched_at is None


def test_a_rerun_is_a_new_queued_analysis_of_the_same_pull_request(
    make_analysis, broker, django_capture_on_commit_callbacks
):
    from reviews.dispatch import queue_rerun as rerun_review

    original = make_analysis(status="failed", error="LLM down")
    with django_capture_on_commit_callbacks(execute=True):
        rerun = rerun_review(original)

    assert rerun.id != original.id
    assert (rerun.status, rerun.rerun_of_id, rerun.delivery_id) == ("queued", original.id, None)
    assert (rerun.repo_full_name, rerun.pr_number, rerun.head_sha) == (
        original.repo_full_name,
        original.pr_number,
        original.head_sha,
    )
    broker.assert_called_once_with((rerun.id,))
