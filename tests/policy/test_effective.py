"""reviews.policy.effective: a repository's file inside the operator's bounds, each value with
its source; and what the policy decides about a pull request."""

from types import SimpleNamespace

import pytest

from reviews import policy
from reviews.policy import Bounds, PolicyFile, Source, load, skip_reason
from tests.policy.test_schema import EXAMPLE

BOUNDS = Bounds(
    enabled=True,
    allowed_models=("anthropic/claude-sonnet-4",),
    model="openai/gpt-4o-mini",
    ignore_paths=("vendor-docs/**",),
    inline_min_severity="medium",
    fail_on_severity="never",
    on_push="incremental",
)
FILE = PolicyFile(".github/prism.yml", "main", "a1b2c3d4" * 5)


def test_no_file_means_the_operators_settings_and_defaults():
    effective = load(None, BOUNDS)
    assert effective.file is None and effective.errors == ()
    assert effective.enabled == policy.Setting(True, Source.DEFAULT)
    assert effective.model == policy.Setting("openai/gpt-4o-mini", Source.OPERATOR)
    assert effective.ignore_paths == policy.Setting(("vendor-docs/**",), Source.OPERATOR)
    assert effective.inline_min_severity.source is Source.OPERATOR
    assert effective.fail_on_severity == policy.Setting("never", Source.OPERATOR)
    assert effective.on_push == policy.Setting("incremental", Source.OPERATOR)
    assert effective.categories.value == ("bug", "security", "performance", "style")
    assert effective.max_inline_comments == policy.Setting(None, Source.DEFAULT)
    assert effective.instructions == policy.Setting("", Source.DEFAULT)
    assert list(effective.settings) == list(policy.SETTING_NAMES)


def test_a_valid_file_tunes_the_review_and_says_so():
    effective = load(EXAMPLE, BOUNDS, file=FILE)
    assert effective.file == FILE and effective.errors == ()
    repo = Source.REPOSITORY
    assert effective.inline_min_severity == policy.Setting("high", repo)
    assert effective.fail_on_severity == policy.Setting("critical", repo)
    assert effective.max_inline_comments == policy.Setting(15, repo)
    assert effective.categories == policy.Setting(("bug", "security", "performance"), repo)
    assert effective.model == policy.Setting("anthropic/claude-sonnet-4", repo)
    assert effective.skip_authors == policy.Setting(("dependabot[bot]",), repo)
    assert effective.base_branches.value == ("main", "release/*")
    assert effective.path_instructions.value == (
        policy.PathRule("src/api/**", "Check authorisation on every handler."),
    )


def test_ignore_paths_add_to_the_operators_never_remove():
    effective = load("version: 1\nignore_paths: ['docs/**', 'vendor-docs/**']\n", BOUNDS)
    assert effective.ignore_paths.value == ("vendor-docs/**", "docs/**")
    assert effective.ignore_paths.source is Source.REPOSITORY
    assert effective.ignore_paths.note == "added to the operator's IGNORE_PATHS"
    assert load("version: 1\nignore_paths: []\n", BOUNDS).ignore_paths.value == ("vendor-docs/**",)


def test_a_model_outside_the_allowed_list_is_refused_with_the_reason():
    effective = load("version: 1\nmodel: openai/o1-pro\n", BOUNDS)
    assert effective.model.value == "openai/gpt-4o-mini"
    assert effective.model.source is Source.OPERATOR
    assert effective.model.note == "model 'openai/o1-pro' refused: not in LLM_ALLOWED_MODELS"
    # With no allowed list, only the operator's own model is accepted.
    assert load("version: 1\nmodel: anthropic/claude-sonnet-4\n", Bounds(model="m")).model == (
        policy.Setting("m", Source.OPERATOR, "model 'anthropic/claude-sonnet-4' refused: "
                       "not in LLM_ALLOWED_MODELS")
    )  # fmt: skip
    assert load("version: 1\nmodel: m\n", Bounds(model="m")).model.value == "m"


def test_security_off_still_reports_the_leaked_secret_finding():
    effective = load("version: 1\ncategories: {security: false, style: false}\n", BOUNDS)
    assert effective.categories.value == ("bug", "performance")
    assert effective.categories.note == "the leaked-secret finding is always reported"


def test_push_reviews_cannot_be_turned_on_against_the_operator():
    off = Bounds(on_push="off")
    effective = load("version: 1\nreview: {on_push: full}\n", off)
    assert effective.on_push == policy.Setting("off", Source.OPERATOR, "REVIEW_ON_PUSH is off")
    assert load("version: 1\nreview: {on_push: off}\n", BOUNDS).on_push.value == "off"


def test_an_invalid_file_means_the_operators_settings_with_the_errors_kept():
    effective = load("version: 1\ninline_min_severity: urgent\nenabled: false\n", BOUNDS, file=FILE)
    assert effective.enabled.value is True
    assert effective.inline_min_severity == policy.Setting("medium", Source.OPERATOR)
    assert [str(error) for error in effective.errors] == [
        "line 2: `inline_min_severity` = 'urgent': must be one of low, medium, high, critical"
    ]
    assert effective.file == FILE


def test_repo_policy_off_ignores_the_file():
    effective = load(EXAMPLE, Bounds(enabled=False, model="m"), file=FILE)
    assert effective.file is None
    assert effective.inline_min_severity.source is Source.OPERATOR
    assert effective.model.value == "m"


def test_bounds_come_from_settings():
    settings = SimpleNamespace(
        REPO_POLICY=False,
        LLM_ALLOWED_MODELS=["a", "b"],
        LLM_MODEL="m",
        IGNORE_PATHS=["x/**"],
        INLINE_MIN_SEVERITY="low",
        FAIL_ON_SEVERITY="high",
        REVIEW_ON_PUSH="full",
    )
    assert Bounds.from_settings(settings) == Bounds(
        enabled=False,
        allowed_models=("a", "b"),
        model="m",
        ignore_paths=("x/**",),
        inline_min_severity="low",
        fail_on_severity="high",
        on_push="full",
    )


def test_path_instructions_apply_only_to_their_matching_files():
    text = (
        "version: 1\ninstructions: House rules.\npath_instructions:\n"
        "  - {path: 'src/api/**', instructions: 'Check authorisation.'}\n"
        "  - {path: '*.sql', instructions: 'Check the indexes.'}\n"
    )
    effective = load(text, BOUNDS)
    house, rules = effective.instructions_for(["src/api/views.py", "README.md"])
    assert house == "House rules."
    assert [rule.instructions for rule in rules] == ["Check authorisation."]
    assert [r.path for r in effective.instructions_for(["db/q/001.sql"])[1]] == ["*.sql"]
    assert effective.instructions_for(["src/web/app.py"])[1] == []


# --- skip_reason -----------------------------------------------------------------------------

PR = {
    "title": "Add caching",
    "author": "octocat",
    "labels": ("enhancement",),
    "base_branch": "main",
    "draft": False,
}


def reason(text: str | None, **changes) -> str | None:
    return skip_reason(load(text, BOUNDS, file=FILE if text else None), **{**PR, **changes})


def test_nothing_skips_a_plain_pull_request():
    assert reason(None) is None
    assert reason(EXAMPLE) is None


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"author": "dependabot[bot]"}, "author dependabot[bot] is skipped"),
        ({"labels": ("x", "no-ai-review")}, "label no-ai-review is skipped"),
        ({"title": "[WIP] caching"}, "title matches ^\\[WIP\\] in review.skip.titles"),
        ({"base_branch": "develop"}, "base branch develop is not one of review.base_branches "
         "in .github/prism.yml"),
        ({"base_branch": "feature/main"}, "base branch feature/main is not one of "
         "review.base_branches in .github/prism.yml"),
        ({"draft": True}, "draft pull requests are skipped by .github/prism.yml"),
    ],
)  # fmt: skip
def test_the_files_skip_rules(changes, why):
    assert reason(EXAMPLE, **changes) == why


def test_release_branches_match_their_glob():
    assert reason(EXAMPLE, base_branch="release/2.1") is None
    assert reason(EXAMPLE, base_branch="release/2.1/hotfix") is not None


def test_disabled_by_the_file():
    assert reason("version: 1\nenabled: false\n") == "disabled by .github/prism.yml"


def test_without_a_file_drafts_follow_the_webhooks_rule():
    assert reason(None, draft=True) is None
    assert reason("version: 1\nreview: {drafts: true}\n", draft=True) is None
