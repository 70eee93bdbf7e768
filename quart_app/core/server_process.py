"""Which process this is: a worker a hypercorn master started, or a process on its own."""

from __future__ import annotations

import multiprocessing
import os


def in_hypercorn_worker() -> bool:
    """Whether this is a worker process a hypercorn master started (and so may be stopped).

    Its multiprocessing target is hypercorn's worker function. (Whether hypercorn is imported
    says nothing: this app imports it, so a process pool of a test suite would pass for one.)
    """
    if multiprocessing.parent_process() is None:
        return False
    target = getattr(multiprocessing.current_process(), "_target", None)
    return str(getattr(target, "__module__", "")).startswith("hypercorn.")


def server_pid() -> int:
    """The process every worker of this server shares: hypercorn's master, else this one."""
    master = multiprocessing.parent_process()
    if master is not None and master.pid is not None and in_hypercorn_worker():
        return master.pid
    return os.getpid()
