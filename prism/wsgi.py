import os

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prism.settings")

application = get_wsgi_application()

from reviews.checks import check_static_files_collected  # noqa: E402 (needs the apps loaded)

# gunicorn runs no system checks of its own: a server with a placeholder secret must not
# start answering webhooks, nor one without its static files serve 500s, so the serious
# problems stop it here.
_errors = [
    message
    for message in [*checks.run_checks(), *check_static_files_collected()]
    if message.is_serious()
]
if _errors:
    raise ImproperlyConfigured(
        "Prism will not start:\n" + "\n".join(f"{m.id}: {m.msg} {m.hint or ''}" for m in _errors)
    )
