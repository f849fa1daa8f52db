import pytest

from tests import stubs


@pytest.fixture
def analysis(make_analysis):
    """A queued review of stubs.REPO#NUMBER at stubs.HEAD."""
    return make_analysis(repo_full_name=stubs.REPO, pr_number=stubs.NUMBER, head_sha=stubs.HEAD)
