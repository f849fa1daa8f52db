"""API tokens (knox): who, which token, since when and until when, first."""

from django.contrib import admin
from django.utils.html import format_html
from knox.admin import AuthTokenAdmin as KnoxTokenAdmin
from knox.models import AuthToken

# --- API tokens (knox): who, which token, since when and until when, first ------------------
admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class TokenAdmin(KnoxTokenAdmin):
    """knox's token admin, with the 128-character digest shortened to its first characters so
    the user, the creation and the expiry stay on screen."""

    list_display = ["user", "token_key", "digest_prefix", "created", "expiry"]
    list_display_links = ["user", "token_key"]
    list_select_related = ["user"]
    list_filter = ["user", "created", "expiry"]
    ordering = ["-created"]

    @admin.display(description="digest", ordering="digest")
    def digest_prefix(self, token: AuthToken) -> str:
        return format_html("<code>{}\N{HORIZONTAL ELLIPSIS}</code>", token.digest[:12])
