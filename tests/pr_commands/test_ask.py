"""What a question sends the model: the relevant hunks first, within the budget, and never a
file a review would not read."""

import pytest

from reviews.commands.ask import relevant_diff
from reviews.diffs.parser import parse
from reviews.tasks import run_command
from tests import stubs
from tests.fixtures import diff_text
from tests.pr_commands.conftest import serve_reactions
from tests.stubs import CHAT, COMMENTS_API, calls_to, sent_json

pytestmark = pytest.mark.django_db

LARGE = parse(diff_text("22-large-release-range"))


def test_the_hunk_at_the_threads_line_comes_first():
    files = parse(diff_text("12-multiple-hunks"))
    hunk = files[0].hunks[2]

    text = relevant_diff(files, "why?", path="src/requests/auth.py", line=hunk.new_start + 1)

    first = text.index("@@ ")
    assert text[first:].startswith(f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},")
    assert text.count("FILE src/requests/auth.py") == 2  # that hunk, then the file's others


def test_files_the_question_names_come_before_the_rest():
    named = LARGE[-1].path
    text = relevant_diff(LARGE, f"what changed in {named.rsplit('/', 1)[-1]}?")

    assert text.startswith(f"FILE {named} ")


def test_the_diff_stays_within_the_prompt_budget_and_says_what_was_left_out(settings):
    settings.LLM_MAX_PROMPT_TOKENS = 4_000

    text = relevant_diff(LARGE, "anything?")

    assert len(text.encode()) < 4 * 4_000
    assert text.rstrip().endswith("left out to fit the prompt]")


def test_ignored_paths_never_reach_the_model(http, record_command, settings):
    settings.IGNORE_PATHS = ["src/flask/*"]
    command = record_command("@prism ask what does helpers.py do now?")
    stubs.serve_identity(http)
    serve_reactions(http, command.comment_id)
    stubs.serve_pull_request(http, diff="01-plain-modification")
    http.post(COMMENTS_API, status=201, json=stubs.comment_json(990, "reply"))
    http.post(CHAT, json={"model": "m", "choices": [{"message": {"content": "Unknown."}}]})

    run_command.run(command.id)

    [chat] = calls_to(http, "POST", CHAT)
    user = sent_json(chat)["messages"][1]["content"]
    assert "src/flask/helpers.py" not in user
    assert "(no diff)" in user
