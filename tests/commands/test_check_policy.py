"""manage.py check_policy FILE: errors with line numbers and exit 1, or the effective policy."""

import pytest
from django.core.management import call_command

from tests.policy.test_schema import EXAMPLE


def test_a_valid_file_prints_the_effective_policy_with_sources(tmp_path, capsys, settings):
    settings.LLM_ALLOWED_MODELS = []
    path = tmp_path / "prism.yml"
    path.write_text(EXAMPLE)
    call_command("check_policy", str(path))
    out = capsys.readouterr().out
    assert f"{path}: valid" in out
    assert "inline_min_severity: high  [repository file]" in out
    assert "skip_authors: dependabot[bot]  [repository file]" in out
    assert "model 'anthropic/claude-sonnet-4' refused: not in LLM_ALLOWED_MODELS" in out
    assert "path_instructions: src/api/**: Check authorisation on every handler." in out


def test_an_invalid_file_prints_each_error_with_its_line_and_exits_1(tmp_path, capsys):
    path = tmp_path / "prism.yml"
    path.write_text("version: 1\nreview:\n  skip:\n    authors: [7]\nextra: true\n")
    with pytest.raises(SystemExit) as exited:
        call_command("check_policy", str(path))
    assert exited.value.code == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{path}: line 4: `review.skip.authors[0]` = 7: 7 is not of type 'string'"
    assert err[1].startswith(f"{path}: line 5: `extra` = True: unknown key")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(Exception, match="Cannot read"):
        call_command("check_policy", str(tmp_path / "nope.yml"))
