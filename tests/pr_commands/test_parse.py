"""Reading `@prism <verb> …` out of a comment: every verb, and what is not a command."""

import pytest

from reviews.commands.parse import Verb, dismissal, help_text, opted_out, parse


@pytest.mark.parametrize(
    ("body", "verb", "arguments"),
    [
        ("@prism review", Verb.REVIEW, ""),
        ("@prism full review", Verb.FULL_REVIEW, ""),
        ("@prism pause", Verb.PAUSE, ""),
        ("@prism resume", Verb.RESUME, ""),
        ("@prism dismiss 42 not reachable", Verb.DISMISS, "42 not reachable"),
        ("@prism dismiss", Verb.DISMISS, ""),
        ("@prism ask why is this O(n^2)?", Verb.ASK, "why is this O(n^2)?"),
        ("@prism help", Verb.HELP, ""),
        ("@prism frobnicate the thing", Verb.UNKNOWN, "frobnicate the thing"),
        ("@prism", Verb.UNKNOWN, ""),
        ("@prism ignore", Verb.UNKNOWN, "ignore"),  # only in the description
    ],
)
def test_each_verb_is_read_with_its_arguments(body, verb, arguments):
    command = parse(body, "prism")

    assert command is not None
    assert (command.verb, command.arguments) == (verb, arguments)


@pytest.mark.parametrize(
    "body",
    [
        "@PRISM Review",
        "  \n @Prism review",
        "@prism   review\n",
        "@prism\treview",
    ],
)
def test_the_name_and_verb_are_case_and_space_insensitive(body):
    command = parse(body, "prism")

    assert command is not None and command.verb is Verb.REVIEW


def test_full_review_spans_any_whitespace_and_wins_over_review():
    assert parse("@prism FULL\n review please", "prism").verb is Verb.FULL_REVIEW  # type: ignore[union-attr]
    assert parse("@prism review full", "prism").verb is Verb.REVIEW  # type: ignore[union-attr]


def test_a_question_keeps_its_lines():
    command = parse("@prism ask what does this do?\n\nAnd why here?", "prism")

    assert command is not None
    assert command.arguments == "what does this do?\n\nAnd why here?"


@pytest.mark.parametrize(
    "body",
    [
        "Thanks @prism review",  # not at the start
        "> @prism review",  # a quote of someone's command
        "@prismatic review",  # another account
        "@prism-bot review",
        "@prism_ review",
        "prism review",
        "",
        "Great catch!",
    ],
)
def test_a_comment_not_addressed_to_prism_is_no_command(body):
    assert parse(body, "prism") is None


def test_a_verb_must_be_a_whole_word():
    command = parse("@prism reviewing this now", "prism")

    assert command is not None and command.verb is Verb.UNKNOWN and command.word == "reviewing"


def test_the_bot_name_is_a_setting():
    assert parse("@prism review", "acme-reviewer") is None
    command = parse("@Acme-Reviewer review", "acme-reviewer")
    assert command is not None and command.verb is Verb.REVIEW


def test_a_huge_argument_is_cut():
    command = parse("@prism ask " + "x" * 10_000, "prism")

    assert command is not None and len(command.arguments) == 4_000


@pytest.mark.parametrize(
    ("arguments", "finding", "reason"),
    [
        ("42 false positive", "42", "false positive"),
        ("#42 false positive", "42", "false positive"),
        ("42", "42", ""),
        ("a1b2c3d4 handled upstream", "a1b2c3d4", "handled upstream"),
        ("false positive", "", "false positive"),  # a reply in the finding's thread
        ("", "", ""),
        ("abc this is fine", "", "abc this is fine"),  # too short for a fingerprint
    ],
)
def test_a_dismissal_names_a_finding_by_id_or_not_at_all(arguments, finding, reason):
    asked = dismissal(arguments)

    assert (asked.finding, asked.reason) == (finding, reason)


@pytest.mark.parametrize(
    ("description", "out"),
    [
        ("@prism ignore", True),
        ("Refactor.\n\n@Prism Ignore\n", True),
        ("  @prism ignore  (generated code)", True),
        ("Please do not @prism ignore this", False),
        ("@prism ignored", False),
        ("@prismatic ignore", False),
        ("", False),
        (None, False),
    ],
)
def test_the_author_opts_out_at_the_start_of_a_line_of_the_description(description, out):
    assert opted_out(description, "prism") is out


def test_help_lists_every_command_and_the_cap():
    text = help_text("prism", 7)

    for said in ("review", "full review", "pause", "resume", "dismiss", "ask", "help", "ignore"):
        assert f"`@prism {said}" in text
    assert "at most 7 per pull request" in text


def test_the_stored_verbs_are_the_parsed_ones():
    from reviews.commands.permissions import RULES
    from reviews.models import Command

    assert set(Command.Verb.values) == {verb.value for verb in Verb} == set(RULES)
