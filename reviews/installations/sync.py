"""Heal the allow-list from GitHub: `manage.py sync_installations`.

Deliveries can be missed (Prism down, a delivery that failed); GitHub's own lists are the
truth. Every installation of the App and every repository each one grants are read and the
rows made to match; what an operator set on a repository is kept.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings

from reviews.github.app import InstallationClient
from reviews.github.errors import GitHubError
from reviews.installations import services, tokens
from reviews.models import Installation

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    installations: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    uninstalled: list[int] = field(default_factory=list)
    # Installations whose repositories could not be read (suspended ones cannot get a
    # token): their rows are left as they were.
    unread: dict[int, str] = field(default_factory=dict)


def sync_installations() -> SyncReport:
    report = SyncReport()
    seen = []
    for described in tokens.app_client().list_installations():
        row = services.installation_upsert(described=described)
        seen.append(row.id)
        report.installations.append(str(row))
        if row.suspended:
            report.unread[row.id] = "suspended"
            continue
        try:
            granted = list(_installation_client(row.id).list_repositories())
        except GitHubError as exc:
            logger.warning("could not list repositories installation_id=%s: %s", row.id, exc)
            report.unread[row.id] = str(exc)
            continue
        added, removed = services.repositories_replace(installation=row, repositories=granted)
        report.added += added
        report.removed += removed
    for gone in Installation.objects.exclude(id__in=seen).values_list("id", flat=True):
        services.installation_delete(installation_id=gone)
        tokens.forget(gone)
        report.uninstalled.append(gone)
    return report


def _installation_client(installation_id: int) -> InstallationClient:
    return InstallationClient(
        base_url=settings.GITHUB_API_URL,
        token=tokens.installation_token(installation_id),
        timeout=settings.GITHUB_TIMEOUT_SECONDS,
        refresh_token=lambda stale: tokens.refresh(installation_id, stale),
    )
