from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_requeue_stale_dispatches_what_the_broker_never_took(make_analysis):
    analysis = make_analysis(dispatched_at=None)
    out = StringIO()
    with mock.patch("reviews.tasks.review_pull_request.apply_async") as apply_async:
        call_command("requeue_stale", stdout=out)
    apply_async.assert_called_once_with((analysis.id,))
    assert "Dispatched 1 of 1." in out.getvalue()


def test_requeue_stale_dry_run_dispatches_nothing(make_analysis):
    make_analysis(dispatched_at=None)
    out = StringIO()
    with mock.patch("reviews.tasks.review_pull_request.apply_async") as apply_async:
        call_command("requeue_stale", "--dry-run", stdout=out)
    apply_async.assert_not_called()
    assert "Would dispatch 1" in out.getvalue()


def test_requeue_stale_exits_non_zero_while_the_broker_is_down(make_analysis):
    make_analysis(dispatched_at=None)
    err = StringIO()
    with (
        mock.patch("reviews.tasks.review_pull_request.apply_async", side_effect=OSError("refused")),
        pytest.raises(SystemExit) as exit_info,
    ):
        call_command("requeue_stale", stdout=StringIO(), stderr=err)
    assert exit_info.value.code == 1
    assert "Broker unavailable" in err.getvalue()
