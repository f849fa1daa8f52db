from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from knox.models import AuthToken


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print it once: only its hash is stored. Send it as "
        "`Authorization: Token <key>`. Revoke it by deleting it in the admin (Auth tokens)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument(
            "--expires-days",
            type=int,
            metavar="N",
            help="Make the token expire after N days (default: it never expires).",
        )

    def handle(self, *args, username: str, expires_days: int | None, **options):
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be a positive number of days.")
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user named {username!r}. Create one with createsuperuser.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; its tokens would be refused.")
        expiry = timedelta(days=expires_days) if expires_days else None
        token, key = AuthToken.objects.create(user=user, expiry=expiry)
        until = f"expires {token.expiry:%Y-%m-%d %H:%M} UTC" if token.expiry else "never expires"
        self.stdout.write(
            self.style.SUCCESS(
                f"Created an API token for {username} ({until}). It is shown only now:"
            )
        )
        self.stdout.write(key)
