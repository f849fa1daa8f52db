import os

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prism.settings")

application = get_wsgi_application()

# gunicorn runs no system checks of its own: a server with a placeholder secret must not
# start answering webhooks, so the serious ones stop it here.
_errors = [message for message in checks.run_checks() if message.is_serious()]
if _errors:
    raise ImproperlyConfigured(
        "Prism will not start:\n" + "\n".join(f"{m.id}: {m.msg} {m.hint or ''}" for m in _errors)
    )
