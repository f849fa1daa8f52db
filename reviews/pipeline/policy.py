"""A repository's current policy: its `.github/prism.yml` (else `.prism.yml`) on the default
branch, read through Django's cache so a busy repository costs one cheap request per review.

Never the pull request's head: a pull request must not write the rules it is reviewed by.

The cache holds, per repository, its default branch (for BRANCH_SECONDS; a rename is rare
and costs at most that long) and the policy file found on it: path, blob SHA, ETag and
content. Each review then asks GitHub once, conditionally (If-None-Match): a 304, which
GitHub does not count against the rate limit, means the cached file stands; a 200 brings the
new blob. A repository without a file is remembered as such for ABSENT_SECONDS, since a 404
cannot be asked conditionally. Parsing is remembered per blob SHA.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import cache

from reviews import policy, services
from reviews.diffs.parser import FileDiff
from reviews.github.client import GitHubClient, GitHubError
from reviews.github.resources import NotModified, PullRequest, RepoFile
from reviews.models import Analysis

logger = logging.getLogger(__name__)

BRANCH_SECONDS = 3600
FILE_SECONDS = 3600  # then both paths are looked up again: a .github/prism.yml added later
ABSENT_SECONDS = 300
CACHE_VERSION = 1


@dataclass(frozen=True)
class Found:
    """The policy file as cached: `path` None means the repository has none."""

    path: str | None
    sha: str = ""
    etag: str = ""
    size: int = 0
    content: bytes = b""


def current(
    github: GitHubClient, repo: str, bounds: policy.Bounds | None = None
) -> policy.EffectivePolicy:
    """The policy a review of `repo` follows now, inside the operator's bounds."""
    bounds = bounds or policy.Bounds.from_settings(settings)
    if not bounds.enabled:
        return policy.effective(None, bounds)
    branch = default_branch(github, repo)
    found = policy_file(github, repo, branch)
    if found.path is None:
        return policy.effective(None, bounds)
    where = policy.PolicyFile(found.path, branch, found.sha)
    if found.size > policy.MAX_FILE_BYTES or len(found.content) != found.size:
        error = policy.PolicyError("", "", None, f"larger than {policy.MAX_FILE_BYTES:,} bytes")
        return policy.effective(None, bounds, file=where, errors=[error])
    data, errors = _validated(found.sha, found.content)
    return policy.effective(data, bounds, file=where, errors=errors)


def default_branch(github: GitHubClient, repo: str) -> str:
    key = _key(repo, "branch")
    branch = cache.get(key)
    if not isinstance(branch, str):
        branch = github.get_default_branch(repo)
        cache.set(key, branch, BRANCH_SECONDS)
    return branch


def policy_file(github: GitHubClient, repo: str, branch: str) -> Found:
    """The policy file on `branch`, asking GitHub as little as the cache allows."""
    key = _key(repo, "file", branch)
    cached = _load(cache.get(key))
    if cached is not None and cached.path is None:
        return cached  # no file, remembered for ABSENT_SECONDS
    if cached is not None and cached.path is not None:
        answer = github.get_file(repo, cached.path, ref=branch, etag=cached.etag)
        if isinstance(answer, NotModified):
            return cached
        if answer is not None:
            return _store(key, _found(cached.path, answer))
        # The file went away (deleted, or moved to the other name): look for both again.
    for path in policy.POLICY_PATHS:
        answer = github.get_file(repo, path, ref=branch)
        if isinstance(answer, RepoFile):
            return _store(key, _found(path, answer))
    absent = Found(None)
    cache.set(key, _dump(absent), ABSENT_SECONDS)
    return absent


def forget(repo: str) -> None:
    """Drop what is cached for `repo`, e.g. after its policy file changed on the default branch."""
    branch = cache.get(_key(repo, "branch"))
    keys = [_key(repo, "branch")]
    if isinstance(branch, str):
        keys.append(_key(repo, "file", branch))
    cache.delete_many(keys)


def _found(path: str, answer: RepoFile) -> Found:
    return Found(path, answer.sha, answer.etag, answer.size, answer.content)


def _store(key: str, found: Found) -> Found:
    cache.set(key, _dump(found), FILE_SECONDS)
    return found


def _dump(found: Found) -> dict[str, Any]:
    # Plain JSON types: a shared cache (Redis) may be read by another Prism version.
    return {
        "path": found.path,
        "sha": found.sha,
        "etag": found.etag,
        "size": found.size,
        "content": base64.b64encode(found.content).decode("ascii"),
    }


def _load(value: Any) -> Found | None:
    if not isinstance(value, dict):
        return None
    try:
        return Found(
            value["path"],
            value["sha"],
            value["etag"],
            int(value["size"]),
            base64.b64decode(value["content"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _key(repo: str, *parts: str) -> str:
    # Repository names are case-insensitive on GitHub; a cache key must not be.
    return ":".join(("prism", "policy", str(CACHE_VERSION), repo.lower(), *parts))


@lru_cache(maxsize=256)
def _validated(
    sha: str, content: bytes
) -> tuple[dict[str, Any] | None, tuple[policy.PolicyError, ...]]:
    """Parsing per blob: a busy repository's file is validated once per process."""
    try:
        return policy.parse(content), ()
    except policy.PolicyInvalid as exc:
        return None, exc.errors


def for_review(
    analysis: Analysis, pr: PullRequest, github: GitHubClient
) -> policy.EffectivePolicy | None:
    """The policy this review follows, or None when it says not to review this pull request
    (the analysis is then `skipped` with the reason, and no model is asked anything)."""
    try:
        effective = current(github, pr.repo_full_name)
    except GitHubError as exc:
        if not exc.permanent:
            raise
        # A token without "Contents: read", say: the review goes on under the operator's
        # settings, and the comment says the policy could not be read.
        logger.warning("repository policy unreadable repo=%s: %s", pr.repo_full_name, exc)
        problem = policy.PolicyError("", "", None, f"could not be read ({exc})")
        effective = policy.effective(None, policy.Bounds.from_settings(settings), errors=[problem])
    reason = policy.skip_reason(
        effective,
        title=pr.title,
        author=pr.author,
        labels=pr.labels,
        base_branch=pr.base_ref,
        draft=pr.draft,
    )
    if reason is None:
        return effective
    record(analysis, effective)
    services.analysis_finish(analysis_id=analysis.id, status=Analysis.Status.SKIPPED, error=reason)
    logger.info("review skipped by policy analysis_id=%s: %s", analysis.id, reason)
    return None


def record(
    analysis: Analysis, effective: policy.EffectivePolicy, files: Sequence[FileDiff] = ()
) -> None:
    """Store what the review follows; `files` tell whether the pull request edits the policy."""
    edits = any(
        name in policy.POLICY_PATHS for file in files for name in (file.path, file.old_path)
    )
    services.analysis_record_policy(
        analysis_id=analysis.id,
        sha=effective.file.blob_sha if effective.file else "",
        record=policy.record(effective, edits_file=edits),
    )
