import os
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prism.settings")


class DjangoCelerySettings(Mapping):
    """Django's CELERY_* settings under Celery's own names, read once, on first use.

    Celery looks its configuration up several times per published task; through
    django.conf.settings every lookup costs a lazy-object hop, on the webhook's hot path.
    """

    @cached_property
    def _values(self) -> dict[str, Any]:
        from django.conf import settings

        return {
            name.removeprefix("CELERY_").lower(): getattr(settings, name)
            for name in dir(settings)
            if name.startswith("CELERY_")
        }

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def make_filesystem_broker_folders(conf: Mapping[str, Any]) -> None:
    """kombu's filesystem transport writes into folders it never makes: make them.

    Done when Celery reads its configuration (in the web process before its first publish,
    in the worker before it consumes), not when Django's settings are imported.
    """
    if not str(conf.get("broker_url") or "").startswith("filesystem://"):
        return
    options = conf.get("broker_transport_options") or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


app = Celery("prism")
app.config_from_object(DjangoCelerySettings())
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs: Any) -> None:
    make_filesystem_broker_folders(sender.conf)
