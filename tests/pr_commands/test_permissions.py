"""Who may run what: every verb for every kind of commenter, and when GitHub is asked."""

import pytest

from reviews.commands.parse import Verb
from reviews.commands.permissions import may_run

WRITE = ("OWNER", "MEMBER", "COLLABORATOR")
OTHERS = ("CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "MANNEQUIN", "NONE", "")
WRITE_VERBS = (Verb.REVIEW, Verb.FULL_REVIEW, Verb.ASK)
AUTHOR_VERBS = (Verb.PAUSE, Verb.RESUME, Verb.DISMISS)
ANYONE_VERBS = (Verb.HELP, Verb.UNKNOWN)


class Roles:
    """GitHub's collaborator permission, stood in for; counts the calls."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.asked: list[str] = []

    def __call__(self, login: str) -> str:
        self.asked.append(login)
        return self.role


def check(verb, *, association, role="", login="alice", author="bob"):
    roles = Roles(role)
    verdict = may_run(verb, login=login, association=association, pr_author=author, role_of=roles)
    return verdict, roles.asked


@pytest.mark.parametrize("verb", list(Verb))
@pytest.mark.parametrize("association", WRITE)
def test_write_associations_may_run_everything_without_asking_github(verb, association):
    verdict, asked = check(verb, association=association)

    assert verdict.allowed
    assert asked == []


@pytest.mark.parametrize("verb", [*WRITE_VERBS, *AUTHOR_VERBS])
@pytest.mark.parametrize("association", OTHERS)
@pytest.mark.parametrize("role", ["admin", "maintain", "write"])
def test_others_with_a_write_role_on_the_repository_may(verb, association, role):
    verdict, asked = check(verb, association=association, role=role)

    assert verdict.allowed
    assert asked == ["alice"]


@pytest.mark.parametrize("verb", [*WRITE_VERBS, *AUTHOR_VERBS])
@pytest.mark.parametrize("association", OTHERS)
@pytest.mark.parametrize("role", ["triage", "read", "none", ""])
def test_others_without_write_access_are_refused_with_the_reason(verb, association, role):
    verdict, asked = check(verb, association=association, role=role)

    assert not verdict.allowed
    assert asked == ["alice"]
    who = "people with write access" if verb in WRITE_VERBS else "the pull request's author"
    assert who in verdict.reason


@pytest.mark.parametrize("verb", AUTHOR_VERBS)
def test_the_author_may_pause_resume_and_dismiss_without_asking_github(verb):
    verdict, asked = check(verb, association="NONE", login="Bob", author="bob")

    assert verdict.allowed
    assert asked == []


@pytest.mark.parametrize("verb", WRITE_VERBS)
def test_the_author_alone_may_not_ask_for_reviews_or_questions(verb):
    verdict, asked = check(verb, association="CONTRIBUTOR", role="read", login="bob", author="bob")

    assert not verdict.allowed
    assert asked == ["bob"]


@pytest.mark.parametrize("verb", ANYONE_VERBS)
@pytest.mark.parametrize("association", [*WRITE, *OTHERS])
def test_anyone_may_ask_for_help_and_github_is_not_asked(verb, association):
    verdict, asked = check(verb, association=association)

    assert verdict.allowed
    assert asked == []


def test_an_author_with_no_login_is_not_taken_for_the_author():
    verdict, _ = check(Verb.PAUSE, association="NONE", login="", author="")

    assert not verdict.allowed
