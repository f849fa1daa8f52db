"""The name commands address (`@prism review`) and the name Prism's replies show.

PRISM_BOT_NAME set: that name alone. Unset: `prism`; in GitHub App mode also the App's slug
(`acme-review` for `acme-review[bot]`), shown in replies once it is known. The slug comes
from GitHub (GET /app), which a worker asks when it builds its first client and which every
process then shares through the cache; the webhook only reads the cache, never GitHub, so
until a worker has run `@<slug>` is not yet recognised (`@prism` always is). An operator who
wants the slug from the first comment sets PRISM_BOT_NAME to it.
"""

from django.conf import settings

from reviews.installations import gate, tokens

DEFAULT = "prism"


def accepted() -> tuple[str, ...]:
    """The names a comment may address Prism by. Cheap: no GitHub call."""
    if settings.PRISM_BOT_NAME:
        return (settings.PRISM_BOT_NAME,)
    slug = _slug()
    return (DEFAULT, slug) if slug and slug.lower() != DEFAULT else (DEFAULT,)


def shown() -> str:
    """The name Prism's replies, its help and its summary comment use."""
    return settings.PRISM_BOT_NAME or _slug() or DEFAULT


def _slug() -> str:
    if not gate.app_mode():
        return ""
    return tokens.known_bot_login().removesuffix("[bot]")
