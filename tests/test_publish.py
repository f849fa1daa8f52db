"""Publishing under a race, which only PostgreSQL's row locks show faithfully."""

import threading
import time

import pytest
import responses
from django.db import connection

from reviews.clients import github_client
from reviews.comments import render as formatting
from reviews.models import StickyComment
from reviews.pipeline import publish
from tests import stubs
from tests.stubs import comment_number

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

COMMENTS = f"{stubs.API}/repos/octo/widgets/issues/7/comments"


def test_two_reviews_of_one_pull_request_racing_end_with_one_comment(make_analysis, settings):
    settings.POST_INLINE_COMMENTS = False
    settings.POST_COMMIT_STATUS = False
    feedback = {"summary": "ok", "findings": [], "coverage": {}, "usage": {}}
    first = make_analysis(status="completed", feedback=feedback)
    second = make_analysis(status="completed", feedback=feedback)

    def slow_empty_listing(request):
        time.sleep(0.3)  # wide enough for both reviews to look before either has posted
        return 200, {}, "[]"

    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        http.add_callback(responses.GET, COMMENTS, callback=slow_empty_listing)
        http.post(COMMENTS, status=201, json=stubs.comment_json(31, formatting.MARKER))
        http.patch(
            f"{stubs.API}/repos/octo/widgets/issues/comments/31",
            json=stubs.comment_json(31, formatting.MARKER),
        )

        def post(analysis_id):
            try:
                publish.publish_review(analysis_id, github_client())
            finally:
                connection.close()

        threads = [threading.Thread(target=post, args=(a.id,)) for a in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        posts = [c for c in http.calls if c.request.method == "POST"]

    assert len(posts) == 1
    sticky = StickyComment.objects.get()
    assert (sticky.comment_id, sticky.analysis_id) == (31, second.id)
    second.refresh_from_db()
    assert (comment_number(second), second.comment_error) == (31, "")
    first.refresh_from_db()
    if not first.comment_url:  # it lost the race to the newer review, and says so
        assert "newer review" in first.comment_error
