"""gunicorn's hooks for Prism's metrics. gunicorn reads ./gunicorn.conf.py by itself, so every
`gunicorn prism.wsgi:application` started from the repository's root (`make run`, the image's
CMD in /app, the end-to-end suite) runs them; the command lines keep the other settings.

With PROMETHEUS_MULTIPROC_DIR set (reviews/metrics_files.py): the master clears what an
earlier run of this host's web server left in the folder before the first worker starts, and
marks each worker that exits dead, so its live gauges stop counting. Without it they do
nothing. The variable is read from the environment (as prometheus-client itself reads it):
the master loads no Django settings.
"""

import os
from typing import Any

from reviews import metrics_files


def on_starting(server: Any) -> None:
    metrics_files.prepare(metrics_files.WEB, os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))


def child_exit(server: Any, worker: Any) -> None:
    metrics_files.mark_dead(worker.pid, os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""))
