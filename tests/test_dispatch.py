"""The dispatch protocol (reviews/dispatch.py): which reviews the sweep sends to the broker again.

`dispatched_at` None means the broker has no message; `retry_at` is when a retry the worker
scheduled is due. The sweep (services.analyses_needing_dispatch) must re-send the first at
once, and leave the second alone until a lease after it was due.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from reviews import dispatch, services
from reviews.models import Analysis

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
HOUR = 3600


@pytest.fixture
def lease(settings) -> timedelta:
    return timedelta(seconds=settings.REVIEW_LEASE_SECONDS)


def test_it_does_not_sweep_a_review_released_for_a_retry_before_retry_at_and_a_lease(
    make_analysis, lease
):
    analysis = make_analysis()
    services.analysis_claim(analysis_id=analysis.id)
    services.analysis_release(
        analysis_id=analysis.id, error="Will retry: rate limited", retry_in=HOUR
    )
    analysis.refresh_from_db()
    assert analysis.status == "queued"
    assert analysis.retry_at - analysis.dispatched_at == timedelta(seconds=HOUR)

    # A message lost at dispatch would be swept a lease later; one held for a retry is not.
    assert services.analyses_needing_dispatch(now=analysis.dispatched_at + lease + SECOND) == []
    assert services.analyses_needing_dispatch(now=analysis.retry_at) == []
    assert services.analyses_needing_dispatch(now=analysis.retry_at + lease - SECOND) == []
    assert services.analyses_needing_dispatch(now=analysis.retry_at + lease + SECOND) == [
        analysis.id
    ]


def test_it_sweeps_a_queued_review_the_broker_refused_at_once(make_analysis, broker):
    analysis = make_analysis(dispatched_at=timezone.now())
    broker.side_effect = OSError("Connection refused")

    assert not dispatch.dispatch_review(analysis.id)
    assert Analysis.objects.get(id=analysis.id).dispatched_at is None
    assert services.analyses_needing_dispatch() == [analysis.id]

    broker.side_effect = None
    broker.reset_mock()
    assert dispatch.sweep() == 1

    broker.assert_called_once_with((analysis.id,))
    analysis.refresh_from_db()
    assert analysis.dispatched_at is not None
    assert services.analyses_needing_dispatch() == []  # not sent again within a lease


def test_it_does_not_sweep_a_review_just_handed_to_the_broker(make_analysis, broker, lease):
    analysis = make_analysis(dispatched_at=timezone.now())

    assert dispatch.sweep() == 0
    broker.assert_not_called()
    later = analysis.dispatched_at + lease + SECOND
    assert services.analyses_needing_dispatch(now=later) == [analysis.id]
