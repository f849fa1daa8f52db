"""GitHubClient's repository reads for the policy file: the default branch, and a file at a
ref, conditionally by ETag. Every request is checked against GitHub's REST description."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import responses
from responses import matchers

from reviews.github import resources
from reviews.github.client import GitHubClient, GitHubError
from tests.fixtures import openapi_example
from tests.openapi import assert_valid_request

API = "https://api.github.test"
REPO = "octocat/Hello-World"
POLICY = "version: 1\nenabled: false\n"
BLOB = "3d21ec53a331a6f037a91c368710b99387d012c1"
CONTENTS = f"{API}/repos/{REPO}/contents/.github/prism.yml"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
        for call in mock.calls:
            assert_valid_request(call.request)


@pytest.fixture
def client() -> GitHubClient:
    return GitHubClient(base_url=API, token="ghs_test", sleep=lambda _: None)


def file_json(text: str = POLICY, sha: str = BLOB, path: str = ".github/prism.yml") -> dict:
    example = openapi_example("content-file-response-if-content-is-a-file")
    encoded = base64.b64encode(text.encode()).decode()
    # GitHub wraps the base64 at 60 characters; the decoder must take it as sent.
    wrapped = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
    return {**example, "path": path, "name": path.rsplit("/", 1)[-1], "sha": sha,
            "size": len(text.encode()), "content": wrapped}  # fmt: skip


def test_the_default_branch_comes_from_get_a_repository(api, client):
    repository = openapi_example("full-repository-default-response")
    api.get(f"{API}/repos/{REPO}", json={**repository, "default_branch": "trunk"})
    assert client.get_default_branch(REPO) == "trunk"


def test_a_repository_without_a_default_branch_is_an_error(api, client):
    api.get(f"{API}/repos/{REPO}", json={"id": 1})
    with pytest.raises(GitHubError, match="named no default branch"):
        client.get_default_branch(REPO)


def test_a_file_is_read_at_the_named_ref_with_its_blob_sha_and_etag(api, client):
    api.get(
        CONTENTS,
        json=file_json(),
        headers={"ETag": '"abc123"'},
        match=[matchers.query_param_matcher({"ref": "release/2.1"})],
    )
    found = client.get_file(REPO, ".github/prism.yml", ref="release/2.1")
    assert found == resources.RepoFile(
        path=".github/prism.yml", sha=BLOB, size=len(POLICY), content=POLICY.encode(),
        etag='"abc123"',
    )  # fmt: skip
    assert "If-None-Match" not in api.calls[0].request.headers


def test_a_conditional_request_sends_the_etag_and_a_304_means_unchanged(api, client):
    api.get(
        CONTENTS,
        status=304,
        match=[matchers.header_matcher({"If-None-Match": '"abc123"'})],
    )
    found = client.get_file(REPO, ".github/prism.yml", ref="main", etag='"abc123"')
    assert found is resources.NOT_MODIFIED


def test_no_file_is_none(api, client):
    api.get(CONTENTS, status=404, json={"message": "Not Found"})
    assert client.get_file(REPO, ".github/prism.yml", ref="main") is None


@pytest.mark.parametrize(
    "example",
    [
        "content-file-response-if-content-is-a-directory",
        "content-file-response-if-content-is-a-symlink",
        "content-file-response-if-content-is-a-submodule",
    ],
)
def test_anything_but_a_file_is_no_file(api, client, example):
    api.get(CONTENTS, json=openapi_example(example))
    assert client.get_file(REPO, ".github/prism.yml", ref="main") is None


def test_a_file_over_a_megabyte_comes_without_content(api, client):
    api.get(CONTENTS, json={**file_json(), "encoding": "none", "content": "", "size": 2_000_000})
    found = client.get_file(REPO, ".github/prism.yml", ref="main")
    assert isinstance(found, resources.RepoFile)
    assert (found.size, found.content) == (2_000_000, b"")


def test_other_failures_propagate(api, client):
    api.get(CONTENTS, status=403, json={"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubError) as raised:
        client.get_file(REPO, ".github/prism.yml", ref="main")
    assert raised.value.status == 403 and raised.value.permanent


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../x", "a/../../b"])
def test_paths_outside_the_repository_are_refused(client, path):
    with pytest.raises(ValueError, match="not a file path"):
        client.get_file(REPO, path, ref="main")


def test_a_ref_is_required(client):
    with pytest.raises(ValueError, match="a ref is required"):
        client.get_file(REPO, ".prism.yml", ref="")


def test_a_pull_request_carries_its_base_branch_and_labels():
    data = {
        "number": 1, "head": {"sha": "a" * 40}, "base": {"sha": "b" * 40, "ref": "main"},
        "labels": [{"name": "no-ai-review"}, {"name": "bug"}, {"id": 3}],
    }  # fmt: skip
    pr = resources.pull_request(REPO, data)
    assert pr.base_ref == "main"
    assert pr.labels == ("no-ai-review", "bug")
