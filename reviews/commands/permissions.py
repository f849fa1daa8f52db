"""Who may run which command. Pure: the caller passes a way to ask GitHub.

Write access is read from the comment's `author_association` first (OWNER, MEMBER,
COLLABORATOR), and only when that is not enough from GitHub's collaborator permission
(https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user):
`admin`, `maintain` and `write` count. No call is made for a command anyone may run, nor for
the pull request's author running one the author may run.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from reviews.commands.parse import SPOKEN, Verb

WRITE_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
WRITE_ROLES = frozenset({"admin", "maintain", "write"})


class Who(Enum):
    ANYONE = "anyone"
    AUTHOR_OR_WRITE = "the pull request's author, or people with write access"
    WRITE = "people with write access"


RULES: dict[Verb, Who] = {
    Verb.REVIEW: Who.WRITE,
    Verb.FULL_REVIEW: Who.WRITE,
    Verb.ASK: Who.WRITE,
    Verb.PAUSE: Who.AUTHOR_OR_WRITE,
    Verb.RESUME: Who.AUTHOR_OR_WRITE,
    Verb.DISMISS: Who.AUTHOR_OR_WRITE,
    Verb.HELP: Who.ANYONE,
    Verb.UNKNOWN: Who.ANYONE,  # answered with what went wrong and the list
}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # why not, for the reply


def may_run(
    verb: Verb,
    *,
    login: str,
    association: str,
    pr_author: str,
    role_of: Callable[[str], str],
) -> Verdict:
    """Whether `login` may run `verb` on this pull request.

    `role_of(login)` asks GitHub for the user's role on the repository ("" for none); it is
    called at most once, and only when the association does not settle it.
    """
    who = RULES[verb]
    if who is Who.ANYONE:
        return Verdict(True)
    if who is Who.AUTHOR_OR_WRITE and login and login.lower() == pr_author.lower():
        return Verdict(True)
    if association.upper() in WRITE_ASSOCIATIONS or role_of(login) in WRITE_ROLES:
        return Verdict(True)
    return Verdict(False, f"`{SPOKEN.get(verb, verb.value)}` is for {who.value}.")
