"""The folder of prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR).

Every gunicorn worker and every Celery process writes its metrics into its own files there,
and GET /metrics sums them all, so the folder is shared by the web server and the workers
(a volume in docker-compose.yml, var/metrics for `make run`).

prometheus-client names the files by pid. Containers sharing one volume each have their own
pid 1, 7, 12..., so two of them would write into the same file: here a file is named by
`role.host.pid` instead (web or worker, the container's host name, the pid). At start,
gunicorn's master (gunicorn.conf.py) and Celery's main process (prism/celery.py) remove the
files of their own role on their own host, which only a previous run of those very processes
can have left; they never touch another container's files, or the worker's when `make run`
starts gunicorn beside it on one host.

No Django here: gunicorn's master calls this before any application is loaded.
"""

import os
import re
import socket
from pathlib import Path

WEB = "web"
WORKER = "worker"
# A manage.py command, beat: their files are kept (a finished process's counts still count).
OTHER = "other"

# Dots separate the parts, so the host name keeps letters, digits and dashes only; and no
# underscore anywhere: prometheus-client splits file names on it.
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"
_role = OTHER


def identifier(pid: int | None = None) -> str:
    """This process's name in the folder's file names (prometheus-client calls it on every
    update, so it must stay cheap)."""
    return f"{_role}.{_HOST}.{os.getpid() if pid is None else pid}"


def prepare(role: str, directory: str) -> None:
    """Make the folder, remove what a previous run of this role on this host left there, and
    name this process (and the children it forks) by `role`."""
    global _role
    _role = role
    if not directory:
        return
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(f"*_{role}.{_HOST}.*.db"):
        leftover.unlink(missing_ok=True)


def mark_dead(pid: int, directory: str) -> None:
    """A child process of this role died: its live gauges stop counting (its counters stay,
    since what a dead process counted still happened)."""
    if not directory:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(identifier(pid), directory)
