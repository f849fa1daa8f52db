"""The effective policy: a repository's validated file inside the operator's bounds. Pure.

Every value records its source (operator, repository file, default), and a repository's value
that the operator does not allow records why it was refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from reviews.diffs.file_filter import matches_glob
from reviews.policy.schema import PolicyError, PolicyInvalid, parse
from reviews.results import CATEGORIES

T = TypeVar("T")


class Source(StrEnum):
    OPERATOR = "operator"
    REPOSITORY = "repository file"
    DEFAULT = "default"


@dataclass(frozen=True)
class Setting(Generic[T]):
    value: T
    source: Source
    note: str = ""  # why a repository's value was not honoured, or how it was combined


@dataclass(frozen=True)
class PathRule:
    path: str
    instructions: str


@dataclass(frozen=True)
class PolicyFile:
    """Where the policy was read: the file, the branch, and the file's blob SHA."""

    path: str
    ref: str
    blob_sha: str


@dataclass(frozen=True)
class Bounds:
    """What the operator allows, from the environment."""

    enabled: bool = True  # REPO_POLICY
    allowed_models: tuple[str, ...] = ()
    model: str = ""
    ignore_paths: tuple[str, ...] = ()
    inline_min_severity: str = "medium"
    fail_on_severity: str = "never"
    on_push: str = "incremental"

    @classmethod
    def from_settings(cls, settings: Any) -> Bounds:
        return cls(
            enabled=settings.REPO_POLICY,
            allowed_models=tuple(settings.LLM_ALLOWED_MODELS),
            model=settings.LLM_MODEL,
            ignore_paths=tuple(settings.IGNORE_PATHS),
            inline_min_severity=settings.INLINE_MIN_SEVERITY,
            fail_on_severity=settings.FAIL_ON_SEVERITY,
            on_push=settings.REVIEW_ON_PUSH,
        )


@dataclass(frozen=True)
class EffectivePolicy:
    enabled: Setting[bool]
    drafts: Setting[bool]
    base_branches: Setting[tuple[str, ...]]
    skip_titles: Setting[tuple[str, ...]]
    skip_authors: Setting[tuple[str, ...]]
    skip_labels: Setting[tuple[str, ...]]
    on_push: Setting[str]
    ignore_paths: Setting[tuple[str, ...]]
    instructions: Setting[str]
    path_instructions: Setting[tuple[PathRule, ...]]
    categories: Setting[tuple[str, ...]]  # the categories the review reports
    inline_min_severity: Setting[str]
    max_inline_comments: Setting[int | None]
    fail_on_severity: Setting[str]
    model: Setting[str]
    file: PolicyFile | None = None
    errors: tuple[PolicyError, ...] = ()  # the file was invalid: operator defaults apply
    repository_ignore_paths: tuple[str, ...] = field(default=())

    @property
    def settings(self) -> dict[str, Setting[Any]]:
        """Every key with its value and source, in the file's order (the API shows these)."""
        return {name: getattr(self, name) for name in SETTING_NAMES}

    def instructions_for(self, paths: Sequence[str]) -> tuple[str, list[PathRule]]:
        """The house rules, and the path rules whose glob matches one of a chunk's files."""
        rules = [
            rule
            for rule in self.path_instructions.value
            if any(matches_glob(rule.path, path) for path in paths)
        ]
        return self.instructions.value, rules


SETTING_NAMES = (
    "enabled", "drafts", "base_branches", "skip_titles", "skip_authors", "skip_labels",
    "on_push", "ignore_paths", "instructions", "path_instructions", "categories",
    "inline_min_severity", "max_inline_comments", "fail_on_severity", "model",
)  # fmt: skip


def effective(
    data: Mapping[str, Any] | None,
    bounds: Bounds,
    *,
    file: PolicyFile | None = None,
    errors: Sequence[PolicyError] = (),
) -> EffectivePolicy:
    """The policy a review follows: the file's `data` (validated by `parse`, or None for no
    file or an invalid one) inside the operator's `bounds`."""
    if not bounds.enabled:
        data, file = None, None  # REPO_POLICY=off: the files are not even read
    data = data or {}
    review = data.get("review", {})
    skip = review.get("skip", {})

    def pick(value: Any, fallback: T, source: Source = Source.DEFAULT) -> Setting[T]:
        return Setting(value, Source.REPOSITORY) if value is not None else Setting(fallback, source)

    repo_ignores = tuple(data.get("ignore_paths", ()))
    operator_ignores = bounds.ignore_paths
    ignore_source = (
        Source.REPOSITORY
        if repo_ignores
        else Source.OPERATOR
        if operator_ignores
        else Source.DEFAULT
    )
    on_push = pick(review.get("on_push"), bounds.on_push, Source.OPERATOR)
    if bounds.on_push == "off" and on_push.value != "off":
        on_push = Setting("off", Source.OPERATOR, "REVIEW_ON_PUSH is off")
    switched = data.get("categories", {})
    categories = tuple(name for name in CATEGORIES if switched.get(name, True))
    return EffectivePolicy(
        enabled=pick(data.get("enabled"), True),
        drafts=pick(review.get("drafts"), False),
        base_branches=pick(_tuple(review.get("base_branches")), ()),
        skip_titles=pick(_tuple(skip.get("titles")), ()),
        skip_authors=pick(_tuple(skip.get("authors")), ()),
        skip_labels=pick(_tuple(skip.get("labels")), ()),
        on_push=on_push,
        ignore_paths=Setting(
            (*operator_ignores, *(p for p in repo_ignores if p not in operator_ignores)),
            ignore_source,
            "added to the operator's IGNORE_PATHS" if repo_ignores else "",
        ),
        instructions=pick(data.get("instructions"), ""),
        path_instructions=pick(
            _rules(data.get("path_instructions")),
            (),
        ),
        categories=Setting(
            categories,
            Source.REPOSITORY if "categories" in data else Source.DEFAULT,
            "the leaked-secret finding is always reported" if "security" not in categories else "",
        ),
        inline_min_severity=pick(
            data.get("inline_min_severity"), bounds.inline_min_severity, Source.OPERATOR
        ),
        max_inline_comments=pick(data.get("max_inline_comments"), None),
        fail_on_severity=pick(
            data.get("fail_on_severity"), bounds.fail_on_severity, Source.OPERATOR
        ),
        model=_model(data.get("model"), bounds),
        file=file,
        errors=tuple(errors),
        repository_ignore_paths=repo_ignores,
    )


def _tuple(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _rules(value: Sequence[Mapping[str, str]] | None) -> tuple[PathRule, ...] | None:
    if value is None:
        return None
    return tuple(PathRule(rule["path"], rule["instructions"]) for rule in value)


def _model(wanted: str | None, bounds: Bounds) -> Setting[str]:
    if wanted is None or wanted == bounds.model:
        return Setting(bounds.model, Source.OPERATOR if wanted is None else Source.REPOSITORY)
    if wanted in bounds.allowed_models:
        return Setting(wanted, Source.REPOSITORY)
    return Setting(
        bounds.model, Source.OPERATOR, f"model {wanted!r} refused: not in LLM_ALLOWED_MODELS"
    )


def load(
    text: str | bytes | None, bounds: Bounds, *, file: PolicyFile | None = None
) -> EffectivePolicy:
    """The effective policy for a file's content (None: no file). An invalid file does not
    stop a review: the operator's defaults apply, and the errors are kept to be shown."""
    if text is None:
        return effective(None, bounds, file=file)
    try:
        return effective(parse(text), bounds, file=file)
    except PolicyInvalid as exc:
        return effective(None, bounds, file=file, errors=exc.errors)


# --- What the policy decides about a pull request ---------------------------------------


def skip_reason(
    policy: EffectivePolicy,
    *,
    title: str,
    author: str,
    labels: Sequence[str],
    base_branch: str,
    draft: bool,
) -> str | None:
    """Why the policy says this pull request is not reviewed, or None to review it."""
    where = policy.file.path if policy.file else "the repository policy"
    if not policy.enabled.value:
        return f"disabled by {where}"
    # Without a file the webhook's rule stands (drafts wait until ready); a file saying
    # `drafts: false` also stops a review asked for by hand.
    if draft and not policy.drafts.value and policy.drafts.source is Source.REPOSITORY:
        return f"draft pull requests are skipped by {where}"
    branches = policy.base_branches.value
    if branches and not any(matches_glob(glob, base_branch, anywhere=False) for glob in branches):
        return f"base branch {base_branch} is not one of review.base_branches in {where}"
    if author in policy.skip_authors.value:
        return f"author {author} is skipped"
    for label in labels:
        if label in policy.skip_labels.value:
            return f"label {label} is skipped"
    for pattern in policy.skip_titles.value:
        if re.search(pattern, title):
            return f"title matches {pattern} in review.skip.titles"
    return None


def record(policy: EffectivePolicy, *, edits_file: bool = False) -> dict[str, Any]:
    """What a review followed, as stored on its analysis: publishing (perhaps by another
    worker, or `repost_comment` days later) applies these, not whatever the file says then.

    `edits_file`: the pull request changes the policy file, which counts only after merge.
    """
    file = policy.file
    refused = [
        setting.note
        for setting in (policy.model, policy.on_push)
        if setting.note and setting.source is Source.OPERATOR
    ]
    return {
        "file": None
        if file is None
        else {"path": file.path, "ref": file.ref, "sha": file.blob_sha},
        "ignore_globs": len(policy.repository_ignore_paths),
        "path_rules": len(policy.path_instructions.value),
        "categories": list(policy.categories.value),
        "inline_min_severity": policy.inline_min_severity.value,
        "inline_from_file": policy.inline_min_severity.source is Source.REPOSITORY,
        "max_inline_comments": policy.max_inline_comments.value,
        "fail_on_severity": policy.fail_on_severity.value,
        "model": policy.model.value,
        "errors": [str(error) for error in policy.errors],
        "refused": refused,
        "edits_file": edits_file,
    }


def describe(policy: EffectivePolicy) -> dict[str, Any]:
    """The effective policy as the API shows it: every key's value, source and note."""
    return {
        "file": None
        if policy.file is None
        else {"path": policy.file.path, "ref": policy.file.ref, "blob_sha": policy.file.blob_sha},
        "errors": [str(error) for error in policy.errors],
        "settings": {
            name: {
                "value": _plain(setting.value),
                "source": str(setting.source),
                "note": setting.note,
            }
            for name, setting in policy.settings.items()
        },
    }


def _plain(value: Any) -> Any:
    if isinstance(value, PathRule):
        return {"path": value.path, "instructions": value.instructions}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value
