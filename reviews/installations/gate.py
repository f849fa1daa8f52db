"""Installations are the allow-list: may a delivery's repository be reviewed? Reads only.

In GitHub App mode a repository is reviewed only when an installation of the App grants
it, that installation is not suspended, and an operator has not disabled it. In
personal-token mode everything the token reaches is in scope, as before.
"""

from dataclasses import dataclass

from django.conf import settings

from reviews.models import Repository


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    installation_id: int | None = None  # whose token reviews it (App mode)


def app_mode() -> bool:
    """GitHub App mode is on (`reviews.clients.app_mode` says the same)."""
    return bool(settings.GITHUB_APP_ID and settings.GITHUB_APP_PRIVATE_KEY)


def check(
    repo_full_name: str, installation_id: int | None, repository_id: int | None = None
) -> Verdict:
    """Whether a delivery for `repo_full_name`, sent for `installation_id`, is reviewed.

    The repository is known by its GitHub id when the delivery names it (a renamed
    repository keeps its id and its row until `sync_installations` updates the name), else
    by its name."""
    if not app_mode():
        return Verdict(allowed=True)
    if installation_id is None:
        return Verdict(
            allowed=False,
            reason="the delivery names no installation of Prism's GitHub App "
            "(a repository webhook? Prism runs as a GitHub App)",
        )
    repository = _known_repository(repo_full_name, repository_id)
    if repository is None or repository.installation_id != installation_id:
        return Verdict(
            allowed=False,
            reason=f"repository {repo_full_name} is not installed for installation "
            f"{installation_id}",
        )
    if repository.installation.suspended:
        return Verdict(
            allowed=False,
            reason=f"installation {installation_id} ({repository.installation.account_login}) "
            "is suspended",
        )
    if not repository.enabled:
        return Verdict(allowed=False, reason=f"repository {repository.full_name} is disabled")
    return Verdict(allowed=True, installation_id=installation_id)


def _known_repository(repo_full_name: str, repository_id: int | None) -> Repository | None:
    rows = Repository.objects.select_related("installation")
    if repository_id is not None:
        by_id = rows.filter(github_id=repository_id).first()
        if by_id is not None:
            return by_id
    # By name, whatever its id: a repository deleted and created again under the same name
    # (a new id) is still the one the installation grants, and keeps the operator's settings.
    return rows.filter(full_name__iexact=repo_full_name).first()


def installation_of(repo_full_name: str) -> int | None:
    """The installation a repository is recorded under; None when it is not installed."""
    return (
        Repository.objects.filter(full_name__iexact=repo_full_name)
        .values_list("installation_id", flat=True)
        .first()
    )
