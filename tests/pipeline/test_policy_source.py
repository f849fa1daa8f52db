"""reviews.pipeline.policy: the policy file from the default branch, cached by blob SHA, so a
busy repository costs one conditional request per review. Requests checked against GitHub's
REST description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from responses import matchers

from reviews import policy
from reviews.github.client import GitHubClient, GitHubError
from reviews.pipeline import policy as repo_policy
from tests.github.test_client_contents import BLOB, file_json
from tests.openapi import assert_valid_request

API = "https://api.github.test"
REPO = "octo/widgets"
PRIMARY = f"{API}/repos/{REPO}/contents/.github/prism.yml"
FALLBACK = f"{API}/repos/{REPO}/contents/.prism.yml"
BOUNDS = policy.Bounds(model="openai/gpt-4o-mini", ignore_paths=("vendor/**",))
VALID = "version: 1\ninline_min_severity: high\nignore_paths: ['docs/**']\n"


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        for call in mock.calls:
            assert_valid_request(call.request)


@pytest.fixture
def github() -> GitHubClient:
    return GitHubClient(base_url=API, token="ghs_test", sleep=lambda _: None)


def serve_branch(api, branch: str = "main") -> None:
    api.get(f"{API}/repos/{REPO}", json={"default_branch": branch})


def requests_made(api) -> list[str]:
    return [f"{call.request.method} {call.request.path_url}" for call in api.calls]


def test_no_file_means_the_operators_settings(api, github):
    serve_branch(api)
    api.get(PRIMARY, status=404, json={"message": "Not Found"})
    api.get(FALLBACK, status=404, json={"message": "Not Found"})
    effective = repo_policy.current(github, REPO, BOUNDS)
    assert effective.file is None and effective.errors == ()
    assert effective.inline_min_severity == policy.Setting("medium", policy.Source.OPERATOR)
    # Remembered: the next review asks nothing.
    api.calls.reset()
    assert repo_policy.current(github, REPO, BOUNDS).file is None
    assert requests_made(api) == []


def test_a_valid_file_is_read_from_the_default_branch_never_the_head(api, github):
    serve_branch(api, "trunk")
    api.get(
        PRIMARY,
        json=file_json(VALID),
        headers={"ETag": '"e1"'},
        match=[matchers.query_param_matcher({"ref": "trunk"})],
    )
    effective = repo_policy.current(github, REPO, BOUNDS)
    assert effective.file == policy.PolicyFile(".github/prism.yml", "trunk", BLOB)
    assert effective.inline_min_severity == policy.Setting("high", policy.Source.REPOSITORY)
    assert effective.ignore_paths.value == ("vendor/**", "docs/**")
    assert requests_made(api) == [
        "GET /repos/octo/widgets",
        "GET /repos/octo/widgets/contents/.github/prism.yml?ref=trunk",
    ]


def test_the_second_name_is_read_when_the_first_is_missing(api, github):
    serve_branch(api)
    api.get(PRIMARY, status=404, json={"message": "Not Found"})
    api.get(FALLBACK, json=file_json(VALID, path=".prism.yml"))
    assert repo_policy.current(github, REPO, BOUNDS).file == policy.PolicyFile(
        ".prism.yml", "main", BLOB
    )


def test_a_busy_repository_costs_one_conditional_request_per_review(api, github):
    serve_branch(api)
    api.get(PRIMARY, json=file_json(VALID), headers={"ETag": '"e1"'})
    first = repo_policy.current(github, REPO, BOUNDS)
    api.reset()
    api.get(PRIMARY, status=304, match=[matchers.header_matcher({"If-None-Match": '"e1"'})])
    for _ in range(3):
        assert repo_policy.current(github, REPO, BOUNDS) == first
    assert requests_made(api) == ["GET /repos/octo/widgets/contents/.github/prism.yml?ref=main"] * 3


def test_a_changed_file_brings_its_new_blob(api, github):
    serve_branch(api)
    api.get(PRIMARY, json=file_json(VALID), headers={"ETag": '"e1"'})
    repo_policy.current(github, REPO, BOUNDS)
    api.reset()
    new_sha = "f" * 40
    api.get(PRIMARY, json=file_json("version: 1\nenabled: false\n", sha=new_sha))
    effective = repo_policy.current(github, REPO, BOUNDS)
    assert effective.file is not None and effective.file.blob_sha == new_sha
    assert effective.enabled == policy.Setting(False, policy.Source.REPOSITORY)


def test_a_deleted_file_is_looked_up_again_under_both_names(api, github):
    serve_branch(api)
    api.get(PRIMARY, json=file_json(VALID), headers={"ETag": '"e1"'})
    repo_policy.current(github, REPO, BOUNDS)
    api.reset()
    api.get(PRIMARY, status=404, json={"message": "Not Found"})
    api.get(FALLBACK, status=404, json={"message": "Not Found"})
    assert repo_policy.current(github, REPO, BOUNDS).file is None


def test_parsing_is_remembered_per_blob(api, github, monkeypatch):
    parsed = []
    real_parse = policy.parse
    repo_policy._validated.cache_clear()

    def counting_parse(text):
        parsed.append(text)
        return real_parse(text)

    monkeypatch.setattr(policy, "parse", counting_parse)
    serve_branch(api)
    api.get(PRIMARY, json=file_json(VALID), headers={"ETag": '"e1"'})
    repo_policy.current(github, REPO, BOUNDS)
    api.reset()
    api.get(PRIMARY, status=304)
    repo_policy.current(github, REPO, BOUNDS)
    assert len(parsed) == 1


def test_an_invalid_file_means_the_operators_settings_and_its_errors(api, github):
    serve_branch(api)
    api.get(PRIMARY, json=file_json("version: 1\nmax_inline_comments: lots\n"))
    effective = repo_policy.current(github, REPO, BOUNDS)
    assert effective.file is not None
    assert [str(error) for error in effective.errors] == [
        "line 2: `max_inline_comments` = 'lots': 'lots' is not of type 'integer'"
    ]
    assert effective.max_inline_comments.source is policy.Source.DEFAULT


def test_a_file_too_large_to_read_is_invalid(api, github):
    serve_branch(api)
    api.get(PRIMARY, json={**file_json(), "encoding": "none", "content": "", "size": 2_000_000})
    effective = repo_policy.current(github, REPO, BOUNDS)
    assert [error.message for error in effective.errors] == ["larger than 65,536 bytes"]


def test_repo_policy_off_asks_github_nothing(api, github):
    effective = repo_policy.current(github, REPO, policy.Bounds(enabled=False, model="m"))
    assert effective.file is None and requests_made(api) == []


def test_a_failure_reading_the_file_propagates_so_the_review_retries(api, github):
    serve_branch(api)
    api.get(PRIMARY, status=403, json={"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubError):
        repo_policy.current(github, REPO, BOUNDS)


def test_the_cache_is_per_repository_case_insensitively(api, github):
    serve_branch(api)
    api.get(PRIMARY, json=file_json(VALID), headers={"ETag": '"e1"'})
    repo_policy.current(github, REPO, BOUNDS)
    api.reset()
    api.get(f"{API}/repos/Octo/Widgets/contents/.github/prism.yml", status=304)
    assert repo_policy.current(github, "Octo/Widgets", BOUNDS).file is not None
    repo_policy.forget(REPO)  # the next review starts over, from the default branch
    api.reset()
    serve_branch(api)
    api.get(PRIMARY, json=file_json(VALID))
    repo_policy.current(github, REPO, BOUNDS)
    assert requests_made(api)[0] == "GET /repos/octo/widgets"
