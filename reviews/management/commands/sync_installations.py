from django.core.management.base import BaseCommand, CommandError

from reviews import clients
from reviews.errors import ServiceError
from reviews.installations.sync import sync_installations


class Command(BaseCommand):
    help = (
        "GitHub App mode: make the Installation and Repository rows match GitHub "
        "(GET /app/installations, then each installation's repositories), healing missed "
        "installation deliveries. Operators' settings on repositories are kept."
    )

    def handle(self, *args, **options):
        if not clients.app_mode():
            raise CommandError(
                "Prism is in personal-token mode: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY "
                "(README, 'GitHub App mode')."
            )
        try:
            report = sync_installations()
        except ServiceError as exc:
            raise CommandError(f"Could not read the App's installations: {exc}") from exc
        for name in report.installations:
            self.stdout.write(f"installation: {name}")
        for name in report.added:
            self.stdout.write(f"added: {name}")
        for name in report.removed:
            self.stdout.write(f"removed: {name}")
        for installation_id in report.uninstalled:
            self.stdout.write(f"uninstalled: installation {installation_id}")
        for installation_id, why in report.unread.items():
            self.stderr.write(
                self.style.WARNING(f"repositories not read: installation {installation_id}: {why}")
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(report.installations)} installations; {len(report.added)} repositories "
                f"added, {len(report.removed)} removed, {len(report.uninstalled)} uninstalled."
            )
        )
