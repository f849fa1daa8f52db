import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from reviews.models import Analysis
from tests.fixtures import REPO_ROOT

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def aged(analysis: Analysis, age: timedelta) -> Analysis:
    Analysis.objects.filter(id=analysis.id).update(created_at=timezone.now() - age)
    return analysis


# --- rerun_review ------------------------------------------------------------------------------


def test_rerun_review_requeues_the_given_ids_with_progress_and_a_tally(
    make_analysis, broker, django_capture_on_commit_callbacks
):
    first, second = make_analysis(status="failed"), make_analysis(status="completed")
    with django_capture_on_commit_callbacks(execute=True):
        output = run("rerun_review", str(second.id), str(first.id))

    reruns = {r.rerun_of_id: r for r in Analysis.objects.filter(rerun_of__isnull=False)}
    assert set(reruns) == {first.id, second.id}
    assert f"[1/2] #{second.id} octo/widgets#7" in output
    assert f"-> queued as #{reruns[second.id].id}" in output
    assert f"[2/2] #{first.id}" in output
    assert "Queued 2 re-run(s)." in output
    assert sorted(c.args[0][0] for c in broker.call_args_list) == sorted(
        r.id for r in reruns.values()
    )


def test_rerun_review_with_an_unknown_id_fails_and_queues_nothing(make_analysis, broker):
    known = make_analysis()
    with pytest.raises(CommandError, match="No analysis with id 999999"):
        run("rerun_review", str(known.id), "999999")
    assert Analysis.objects.count() == 1


def test_rerun_review_failed_takes_failures_not_yet_rerun(make_analysis, broker):
    fresh = make_analysis(status="failed")
    already = make_analysis(status="failed")
    make_analysis(status="queued", rerun_of=already)
    make_analysis(status="completed")

    output = run("rerun_review", "--failed")

    assert f"#{fresh.id} " in output and f"#{already.id} " not in output
    assert "Queued 1 re-run(s)." in output
    assert Analysis.objects.filter(rerun_of=fresh).count() == 1


def test_rerun_review_since_limits_by_age(make_analysis, broker):
    recent = aged(make_analysis(status="failed"), timedelta(hours=1))
    aged(make_analysis(status="failed"), timedelta(days=3))
    aged(make_analysis(status="completed"), timedelta(minutes=5))

    output = run("rerun_review", "--failed", "--since", "2d")
    assert "Queued 1 re-run(s)." in output
    assert Analysis.objects.filter(rerun_of=recent).exists()

    # The re-run just queued is in flight: it is not re-run again.
    assert "Queued 2 re-run(s)." in run("rerun_review", "--since", "2h")
    assert not Analysis.objects.filter(rerun_of__rerun_of__isnull=False).exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
    ],
)
def test_rerun_review_understands_durations(text, expected):
    from reviews.management.commands.rerun_review import duration

    assert duration(text) == expected


@pytest.mark.parametrize("text", ["2", "2y", "-1d", "0h", "two days"])
def test_rerun_review_refuses_a_bad_duration(text):
    with pytest.raises(CommandError, match="is not a duration"):
        run("rerun_review", f"--since={text}")


def test_rerun_review_dry_run_changes_nothing(make_analysis, broker):
    analysis = make_analysis(status="failed")
    output = run("rerun_review", "--failed", "--dry-run")
    assert f"Would re-run #{analysis.id}" in output
    assert Analysis.objects.count() == 1
    broker.assert_not_called()


def test_rerun_review_needs_something_to_rerun():
    with pytest.raises(CommandError, match="Say what to re-run"):
        run("rerun_review")


def test_rerun_review_refuses_ids_with_selectors(make_analysis):
    with pytest.raises(CommandError, match="not both"):
        run("rerun_review", str(make_analysis().id), "--failed")


def test_rerun_review_with_nothing_matching_says_so(make_analysis):
    make_analysis(status="completed")
    assert "Nothing to re-run." in run("rerun_review", "--failed")


def test_rerun_review_exits_non_zero_from_the_command_line():
    """The real CLI: CommandError becomes exit status 1 and a message on stderr."""
    result = subprocess.run(
        [sys.executable, "manage.py", "rerun_review", "--since", "soon"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "is not a duration" in result.stderr


# --- create_api_token --------------------------------------------------------------------------


def test_create_api_token_prints_a_working_key_once(django_user_model, make_analysis):
    django_user_model.objects.create_user("ci-bot")
    output = run("create_api_token", "ci-bot")

    assert "Created an API token for ci-bot (never expires)" in output
    key = output.strip().splitlines()[-1]
    assert key.startswith("prism_")
    token = AuthToken.objects.get()
    assert token.expiry is None
    assert key not in (token.digest, token.token_key)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/analyses/").status_code == 200


def test_create_api_token_can_expire(django_user_model):
    django_user_model.objects.create_user("ci-bot")
    output = run("create_api_token", "ci-bot", "--expires-days", "30")
    token = AuthToken.objects.get()
    assert timedelta(days=29) < token.expiry - timezone.now() <= timedelta(days=30)
    assert "expires " in output


def test_create_api_token_for_an_unknown_user_fails():
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        run("create_api_token", "ghost")
    assert not AuthToken.objects.exists()


def test_create_api_token_refuses_an_inactive_user(django_user_model):
    django_user_model.objects.create_user("gone", is_active=False)
    with pytest.raises(CommandError, match="inactive"):
        run("create_api_token", "gone")


def test_create_api_token_refuses_a_non_positive_expiry(django_user_model):
    django_user_model.objects.create_user("ci-bot")
    with pytest.raises(CommandError, match="positive"):
        run("create_api_token", "ci-bot", "--expires-days", "0")


@pytest.mark.parametrize("command", ["rerun_review", "create_api_token"])
def test_every_option_has_help(command):
    from django.core.management import load_command_class

    cmd = load_command_class("reviews", command)
    assert cmd.help
    parser = cmd.create_parser("manage.py", command)
    own = [a for a in parser._actions if a.dest not in {"help", "version"}]
    for action in own:
        if action.dest in {
            "verbosity",
            "settings",
            "pythonpath",
            "traceback",
            "no_color",
            "force_color",
            "skip_checks",
        }:
            continue
        assert action.help, f"{command} {action.dest} has no help"
