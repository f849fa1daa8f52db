import pytest
import responses

from tests import stubs
from tests.graphql_schema import assert_valid_graphql_request
from tests.openapi import assert_valid_request


@pytest.fixture
def http():
    """GitHub and the model at the transport; every request sent to GitHub must be valid."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        # Inside the block: leaving it resets the recorded calls.
        for call in mock.calls:
            url = call.request.url or ""
            if url == stubs.GRAPHQL_API:
                assert_valid_graphql_request(call.request)
            elif url.startswith(stubs.API):
                assert_valid_request(call.request)


@pytest.fixture
def analysis(make_analysis):
    """A queued review of stubs.REPO#NUMBER at stubs.HEAD."""
    return make_analysis(repo_full_name=stubs.REPO, pr_number=stubs.NUMBER, head_sha=stubs.HEAD)
