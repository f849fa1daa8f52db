"""Every write to the Installation and Repository rows: from the App's deliveries, and from
`sync_installations`.

The rows follow GitHub: `installation` (created, deleted, suspend, unsuspend,
new_permissions_accepted) and `installation_repositories` (added, removed) deliveries
keep them, each applied once per delivery id. What an operator set on a repository
(enabled, model, budgets) survives every update; a repository removed from the App loses
its row, and comes back as a new one (`AUTO_ENABLE_NEW_REPOS`) if it is added again.
https://docs.github.com/webhooks/webhook-events-and-payloads#installation
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reviews.github.app import AppInstallation, AppRepository, installation, repository
from reviews.installations import tokens
from reviews.models import Installation, InstallationEvent, Repository

logger = logging.getLogger(__name__)

INSTALLATION = "installation"
INSTALLATION_REPOSITORIES = "installation_repositories"
EVENTS = frozenset({INSTALLATION, INSTALLATION_REPOSITORIES})
HANDLED_ACTIONS = {
    INSTALLATION: frozenset(
        {"created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"}
    ),
    INSTALLATION_REPOSITORIES: frozenset({"added", "removed"}),
}


class InstallationPayloadError(ValueError):
    """The delivery does not describe an installation we can record; the message says why."""


@dataclass(frozen=True)
class Outcome:
    status: str  # "applied", "duplicate" or "ignored"
    detail: str


def installation_record_delivery(
    *, delivery_id: str, event: str, payload: dict[str, Any]
) -> Outcome:
    """Apply an installation delivery once per delivery id, and record what it changed."""
    action = payload.get("action")
    if not isinstance(action, str) or action not in HANDLED_ACTIONS.get(event, ()):
        return Outcome("ignored", f"{event} action {action!r} is not handled")
    described = _installation(payload)
    try:
        with transaction.atomic():
            record = InstallationEvent.objects.create(
                delivery_id=delivery_id, event=event, action=action, installation_id=described.id
            )
            detail = _apply(event, action, described, payload)
            record.outcome = detail
            record.save(update_fields=["outcome"])
    except IntegrityError:
        if InstallationEvent.objects.filter(delivery_id=delivery_id).exists():
            return Outcome("duplicate", f"delivery {delivery_id} was already applied")
        raise
    # A token carries the permissions and repositories it was issued with: the next review
    # gets a new one, with what the installation grants now.
    tokens.forget(described.id)
    logger.info(
        "installation delivery applied delivery_id=%s event=%s action=%s installation_id=%s",
        delivery_id,
        event,
        action,
        described.id,
    )
    return Outcome("applied", detail)


def _apply(event: str, action: str, described: AppInstallation, payload: dict[str, Any]) -> str:
    if event == INSTALLATION and action == "deleted":
        deleted = installation_delete(installation_id=described.id)
        return f"deleted installation {described.id} and {deleted} repositories"
    row = installation_upsert(described=described)
    if event == INSTALLATION:
        if action == "created":
            added = repositories_add(installation=row, repositories=_repos(payload, "repositories"))
            return f"installed on {row.account_login}; {_listed(added)}"
        if action == "suspend":
            if row.suspended_at is None:  # GitHub names the time; if not, it is now
                Installation.objects.filter(id=row.id).update(suspended_at=timezone.now())
            return f"suspended {row.account_login}"
        if action == "unsuspend":
            return f"unsuspended {row.account_login}"
        return f"{row.account_login} accepted new permissions"
    if action == "added":
        added = repositories_add(
            installation=row, repositories=_repos(payload, "repositories_added")
        )
        return _listed(added)
    removed = repositories_remove(
        installation=row, repositories=_repos(payload, "repositories_removed")
    )
    return f"removed {', '.join(removed) or 'nothing'}"


def installation_upsert(*, described: AppInstallation) -> Installation:
    """Create or update an installation's row from GitHub's description of it."""
    row, _ = Installation.objects.update_or_create(
        id=described.id,
        defaults={
            "account_login": described.account_login,
            "account_type": described.account_type,
            "suspended_at": _time(described.suspended_at),
        },
    )
    return row


def installation_delete(*, installation_id: int) -> int:
    """Forget an uninstalled installation and its repositories; how many repositories went."""
    repositories = Repository.objects.filter(installation_id=installation_id).count()
    Installation.objects.filter(id=installation_id).delete()
    return repositories


def repositories_add(
    *, installation: Installation, repositories: Iterable[AppRepository]
) -> list[str]:
    """Record repositories the installation grants; each new one enabled as
    AUTO_ENABLE_NEW_REPOS says. A repository renamed, or moved from another installation,
    keeps its row and what the operator set on it. Names the ones added, with their state."""
    added = []
    for granted in repositories:
        existing = Repository.objects.filter(
            Q(github_id=granted.id) | Q(full_name__iexact=granted.full_name)
        ).first()
        if existing is not None:
            Repository.objects.filter(id=existing.id).update(
                installation=installation,
                github_id=granted.id,
                full_name=granted.full_name,
                updated_at=timezone.now(),
            )
            continue
        created = Repository.objects.create(
            installation=installation,
            github_id=granted.id,
            full_name=granted.full_name,
            enabled=settings.AUTO_ENABLE_NEW_REPOS,
        )
        added.append(f"{created.full_name} ({'enabled' if created.enabled else 'disabled'})")
    return added


def repositories_remove(
    *, installation: Installation, repositories: Iterable[AppRepository]
) -> list[str]:
    """Forget repositories the installation no longer grants; names the ones removed."""
    removed = []
    for revoked in repositories:
        rows = Repository.objects.filter(installation=installation).filter(
            Q(github_id=revoked.id) | Q(full_name__iexact=revoked.full_name)
        )
        names = list(rows.values_list("full_name", flat=True))
        rows.delete()
        removed.extend(names)
    return removed


def repositories_replace(
    *, installation: Installation, repositories: Iterable[AppRepository]
) -> tuple[list[str], list[str]]:
    """Make the installation's repositories exactly `repositories` (sync_installations):
    the ones added and the ones removed."""
    granted = list(repositories)
    added = repositories_add(installation=installation, repositories=granted)
    stale = Repository.objects.filter(installation=installation).exclude(
        github_id__in=[repo.id for repo in granted]
    )
    removed = list(stale.values_list("full_name", flat=True))
    stale.delete()
    return added, removed


def _installation(payload: dict[str, Any]) -> AppInstallation:
    data = payload.get("installation")
    if not isinstance(data, dict):
        raise InstallationPayloadError("the payload is missing installation")
    try:
        return installation(data)
    except ValueError as exc:
        raise InstallationPayloadError(str(exc)) from exc


def _repos(payload: dict[str, Any], key: str) -> list[AppRepository]:
    items = payload.get(key) or []
    if not isinstance(items, list):
        raise InstallationPayloadError(f"{key} must be a list")
    try:
        return [repository(item) for item in items if isinstance(item, dict)]
    except ValueError as exc:
        raise InstallationPayloadError(f"{key}: {exc}") from exc


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    return parsed if parsed is not None else timezone.now()


def _listed(added: list[str]) -> str:
    return f"added {', '.join(added)}" if added else "no new repositories"
