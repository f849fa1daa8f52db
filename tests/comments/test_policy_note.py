"""reviews.comments.policy_note: the footer names the policy a review followed."""

from reviews import policy
from reviews.comments.policy_note import policy_lines

SHA = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0"
FILE = policy.PolicyFile(".github/prism.yml", "main", SHA)
TEXT = """\
version: 1
ignore_paths: ["docs/**", "**/*.snap", "site/**"]
path_instructions:
  - {path: "src/api/**", instructions: "Check authorisation."}
  - {path: "*.sql", instructions: "Check the indexes."}
inline_min_severity: high
"""


def record(text: str | None, **kwargs) -> dict:
    bounds = policy.Bounds(model="m", allowed_models=())
    return policy.record(policy.load(text, bounds, file=FILE if text else None), **kwargs)


def test_the_footer_names_the_file_branch_blob_and_what_it_set():
    assert policy_lines(record(TEXT)) == [
        "Policy: `.github/prism.yml` @ `main` a1b2c3d · 3 ignore globs · 2 path rules · "
        "inline ≥ high"
    ]


def test_no_file_no_line():
    assert policy_lines(record(None)) == []
    assert policy_lines({}) == []


def test_an_invalid_file_names_the_key_value_and_line():
    lines = policy_lines(record("version: 1\nreview:\n  skip:\n    authors: [7]\n"))
    assert lines[0] == "Policy: `.github/prism.yml` @ `main` a1b2c3d"
    assert lines[1].startswith(
        "`.github/prism.yml` is not valid, so the operator's settings apply: "
    )
    assert "line 4" in lines[1] and "review.skip.authors" in lines[1] and "7" in lines[1]


def test_a_refused_model_is_said():
    lines = policy_lines(record("version: 1\nmodel: openai/o1-pro\n"))
    assert lines[-1] == "Policy: model 'openai/o1-pro' refused: not in LLM_ALLOWED_MODELS."


def test_an_edit_of_the_policy_takes_effect_after_merge():
    lines = policy_lines(record("version: 1\n", edits_file=True))
    assert lines[-1] == (
        "This pull request edits `.github/prism.yml`: the change takes effect after it is "
        "merged; this review followed the file on `main`."
    )
    assert "takes effect after it is merged" in policy_lines(record(None, edits_file=True))[-1]


def test_hostile_text_in_an_error_is_sanitised():
    lines = policy_lines(
        record('version: 1\nmodel: "@octocat <img src=x> [x](https://evil.test)"\n')
    )
    joined = "\n".join(lines)
    assert "<img" not in joined and "https://evil.test" not in joined
    assert "@octocat" not in joined  # no ping: the sanitiser breaks the mention
