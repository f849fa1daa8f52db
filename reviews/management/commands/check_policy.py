import sys
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from reviews import policy


class Command(BaseCommand):
    help = (
        "Check a repository policy file (.github/prism.yml): print each error with its line "
        "and exit 1, or print the effective policy under this Prism's settings, each value "
        "with its source, and exit 0."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The policy file to check; - reads standard input.")

    def handle(self, *args, file: str, **options):
        try:
            text = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        try:
            data = policy.parse(text)
        except policy.PolicyInvalid as exc:
            for error in exc.errors:
                self.stderr.write(f"{file}: {error}")
            # Exit 1 without Django's "CommandError:" prefix on every error line.
            sys.exit(1)
        bounds = policy.Bounds.from_settings(settings)
        # The file is checked as it would apply were REPO_POLICY on; say so when it is off.
        effective = policy.effective(data, replace(bounds, enabled=True))
        self.stdout.write(self.style.SUCCESS(f"{file}: valid"))
        if not bounds.enabled:
            self.stdout.write("REPO_POLICY is off here: no repository's file is read.")
        for name, setting in effective.settings.items():
            note = f"  ({setting.note})" if setting.note else ""
            self.stdout.write(f"{name}: {_show(setting.value)}  [{setting.source}]{note}")


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(_show(item) for item in value) or "(none)"
    if isinstance(value, policy.PathRule):
        return f"{value.path}: {value.instructions}"
    return "(none)" if value in (None, "") else str(value)
