import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "prism.settings")


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
# Celery's own reading of Django's CELERY_* settings, and kombu's own Redis transport: a cached
# settings mapping and a one-client-per-channel transport measured no gain on the ingest
# benchmark (2026-12-01: 566 vs 568 deliveries/s at 8 clients, 1.67 ms CPU per delivery
# either way), so neither is kept.
app.config_from_object("django.conf:settings", namespace="CELERY")
# The embedded default (filesystem:// broker) runs the threads pool (CELERY_WORKER_POOL in
# settings) and `make run` starts beat as its own process, because a worker there must not
# depend on a child process it cannot replace. Measured 2026-12-01, SQLite + filesystem
# broker, `--concurrency 2`, a review held mid-LLM-call, then SIGKILL:
# - prefork: kombu's filesystem transport is not asynchronous, so Celery runs its synchronous
#   loop and billiard's blocking pool, whose idle children wait for work on one shared pipe
#   while holding its read lock. Kill the idle child (or every child, or let the OOM killer
#   pick it) and the lock is never released: the replacement children block on it (futex)
#   and the worker goes on receiving reviews and sweeps and never runs one. Killing only
#   the busy child recovers (requeued by reject_on_worker_lost, done 25 s later); on Redis
#   the event loop's pool gives each child its own pipe, so every kill recovers there.
#   --without-mingle/--without-gossip change nothing (the same hang).
# - `--beat` embeds beat as a forked child: killed, it is never replaced and the sweeps stop.
# - threads: no child processes at all. Killing the worker and starting it again recovers:
#   the review completed once (attempt 2, one comment) 23-25 s later, a later delivery 1 s.
#   solo recovers the same way but runs one task at a time (sweeps wait behind reviews).
# Threads enforce no time limit: a review stuck past its lease can be taken over, and the
# conditional update in services.analysis_complete lets only one of the two publish.
#
# Since issue 16 every worker runs the threads pool (WORKER_POOL, WORKER_CONCURRENCY: 32 on
# PostgreSQL, 2 on SQLite), because a review is I/O-bound. Measured 2026-12-01 with
# benchmarks/review_throughput.py (200 small pull requests at once, a model answering each
# call in 5 s, PostgreSQL + Redis, a 2-core machine shared with other work):
# - threads, 32: all 200 reviewed in 51.5 s (median of 3: 47.5-51.6), 20-32 in flight,
#   worker peak RSS 114 MB, 18 s of CPU.
# - prefork, 8 processes: 246.6 s, 829 MB (every child is a whole Prism), 4-6 in flight
#   (each child also waits on GitHub while posting).
# - prefork, 2 (the compose default before): 40 pull requests in 147.3 s (200: about
#   12 minutes), 281 MB.
# A worker killed with three reviews in flight: each completed once on the next worker
# (tests/e2e/test_3_worker_killed.py). gevent was not tried: it needs monkey-patching and
# psycopg 3 would block its hub.
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs: Any) -> None:
    make_filesystem_broker_folders(sender.conf)


@signals.setup_logging.connect
def _django_logging(**kwargs: Any) -> None:
    """Django's LOGGING in the worker too, not Celery's own set-up: with any receiver of this
    signal Celery leaves the root logger alone (worker_hijack_root_logger would otherwise
    replace its handler), so the worker's lines are scrubbed of credentials, carry the
    review's fields and follow LOG_FORMAT like the web server's. LOG_LEVEL sets the level;
    `-l info` on the command line no longer does."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.celeryd_init.connect
def _prepare_metrics_folder(**kwargs: Any) -> None:
    """The worker's main process, before its pool starts: clear what this host's previous
    worker left in PROMETHEUS_MULTIPROC_DIR and name its processes "worker"."""
    from django.conf import settings

    from reviews import metrics_files

    metrics_files.prepare(metrics_files.WORKER, settings.PROMETHEUS_MULTIPROC_DIR)


@signals.worker_process_shutdown.connect
def _mark_metrics_process_dead(pid: int | None = None, **kwargs: Any) -> None:
    """A prefork child stopping: its live gauges (models calls in flight) stop counting."""
    from django.conf import settings

    from reviews import metrics_files

    metrics_files.mark_dead(pid or os.getpid(), settings.PROMETHEUS_MULTIPROC_DIR)
