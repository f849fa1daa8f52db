"""gunicorn's hooks for Prism's metrics, and its own log lines as JSON with LOG_FORMAT=json.
gunicorn reads ./gunicorn.conf.py by itself, so every `gunicorn prism.wsgi:application` started
from the repository's root (`make run`, the image's CMD in /app, the end-to-end suite) runs
them; the command lines keep the other settings.

With PROMETHEUS_MULTIPROC_DIR set (reviews/metrics_files.py): the master clears what an
earlier run of this host's web server left in the folder before the first worker starts, and
marks each worker that exits dead, so its live gauges stop counting. Without it they do
nothing. The variable is read from the environment (as prometheus-client itself reads it):
the master loads no Django settings.
"""

import os
from typing import Any

from reviews import metrics_files

# The formatter scrubs credentials, which it reads from Django's settings (in the master too).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prism.settings")

if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    # gunicorn's error and access lines in the same JSON as Prism's (reviews/logs.py), so that
    # the web server's output is one JSON object per line. Like the folder above, read from
    # the environment: the master reads no .env.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "reviews.logs.JsonFormatter"}},
        "handlers": {
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
            "error": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
        },
        # gunicorn merges this over its defaults key by key: its root logger's handler is ours.
        "root": {"level": "INFO", "handlers": ["error"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }


def on_starting(server: Any) -> None:
    metrics_files.prepare(metrics_files.WEB, os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))


def child_exit(server: Any, worker: Any) -> None:
    metrics_files.mark_dead(worker.pid, os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))
