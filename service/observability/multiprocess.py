"""Several worker processes behind one port: where they share their metrics.

With ``WEB_CONCURRENCY`` > 1 (Granian's ``--workers``, uvicorn's, gunicorn's)
each scrape of ``/metrics`` reaches one worker, so every worker writes its
counts to files in one directory and the worker that answers adds them all
up (prometheus-client's multiprocess mode, :mod:`service.observability.metrics`). That
directory must be the same for every worker of a server, new for each start
of the server (old counts would be added in), and private.

``PROMETHEUS_MULTIPROC_DIR``, when set, is that directory, and whoever sets it
empties it before each start, as prometheus-client asks (``shapestoken serve
--workers N`` makes a new one). Otherwise each worker names it after the
process that started the workers, which all of them share: its pid and, on
Linux, its start time, so a restarted server never reuses an old directory.
Directories of servers that have exited are removed as the next one starts.

This module imports nothing from prometheus-client: :func:`share_metrics` must
run before it is imported, because it picks where values live on import.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from service.errors import ConfigError

DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
WORKERS_ENV = "WEB_CONCURRENCY"
PREFIX = "shapestoken-metrics-"


def share_metrics(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Set up (and return) the directory the workers share, when there are several."""
    if given := environ.get(DIR_ENV):
        directory = Path(given)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return directory
    if workers(environ) <= 1:
        return None
    root = Path(tempfile.gettempdir())
    parent = os.getppid()
    directory = root / f"{PREFIX}{os.getuid()}-{parent}-{started(parent)}"
    directory.mkdir(mode=0o700, exist_ok=True)
    check_private(directory)
    remove_stale(root, keep=directory)
    environ[DIR_ENV] = str(directory)
    return directory


def workers(environ: Mapping[str, str]) -> int:
    """The worker count in ``WEB_CONCURRENCY``; 1 when unset or not a number."""
    try:
        return int(environ.get(WORKERS_ENV, "1"))
    except ValueError:
        return 1


def started(pid: int) -> str:
    """When ``pid`` started (clock ticks since boot, from /proc), or ``0`` when unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    # Field 22, counted after the command name, which is in parentheses and may
    # hold spaces (proc(5)).
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 and fields[19].isdigit() else "0"


def check_private(directory: Path) -> None:
    """Refuse a directory someone else made or can write: it would feed the scrape."""
    info = os.lstat(directory)
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise ConfigError(
            f"{directory}: the workers' metrics directory is not a private directory of "
            f"this user; remove it, or set {DIR_ENV} to one"
        )


def remove_stale(root: Path, *, keep: Path) -> None:
    """Remove this user's directories of servers that are no longer running."""
    mine = f"{PREFIX}{os.getuid()}-"
    for directory in root.glob(f"{mine}*"):
        if directory == keep:
            continue
        pid, _, start = directory.name.removeprefix(mine).partition("-")
        if not pid.isdigit() or (start != "0" and started(int(pid)) != start):
            shutil.rmtree(directory, ignore_errors=True)
