"""How a hypercorn worker stops: on its master's event, never cut off by a SIGTERM, and never
hanging for good."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time

from quart_app.core.server_process import in_hypercorn_worker

# sysexits.h EX_SOFTWARE: a worker whose shutdown overran graceful_timeout + the margin.
EXIT_STOP_OVERRAN = 70
SHUTDOWN_MARGIN_SECONDS = 5.0  # past graceful_timeout: the app's own shutdown takes < 1 s


def prepare_worker_stop() -> None:
    """Call once in a server's process (asgi.py); outside a hypercorn worker it does nothing."""
    if in_hypercorn_worker():
        _leave_sigterm_to_the_master()
        _exit_if_the_stop_overruns()


def _leave_sigterm_to_the_master() -> None:
    """A hypercorn worker ignores SIGTERM; its master's shutdown event stops it gracefully.

    hypercorn 0.18's workers install no SIGTERM handler (the master stops them through a shared
    event, and makes them ignore only SIGINT), so a SIGTERM reaching a worker kills it at once,
    mid-response. That is what a supervisor sends: systemd signals the whole control group at
    once, as ``kill -- -PGID`` does. And a SIGTERM to the master alone ends the same way: once
    the first worker has finished, the master SIGTERMs the others, still finishing theirs.
    Ignored, the signal leaves the stop to the event: every worker finishes its in-flight
    requests within graceful_timeout, runs the app's shutdown and exits, and the master waits
    for all of them. SIGKILL still ends a worker that overruns.
    """
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _exit_if_the_stop_overruns() -> None:
    """A worker still alive SHUTDOWN_MARGIN_SECONDS past graceful_timeout exits by itself.

    Ignoring SIGTERM, a worker stuck in its shutdown would otherwise wait for a SIGKILL, and a
    plain ``kill`` would hang the server. It happens: a request cut off at the graceful
    timeout can leave an aiosqlite connection whose close never returns. A thread waits on the
    master's shutdown event (hypercorn hands it to the worker function), gives the stop
    graceful_timeout and the margin, then logs and ends the process.
    """
    arguments = getattr(multiprocessing.current_process(), "_kwargs", {})
    shutdown_event, config = arguments.get("shutdown_event"), arguments.get("config")
    if shutdown_event is None or config is None:
        return
    limit = float(config.graceful_timeout) + SHUTDOWN_MARGIN_SECONDS

    def watch() -> None:
        shutdown_event.wait()
        time.sleep(limit)
        logging.getLogger("quart_app.server").critical(
            "worker %d still stopping %.1f s after the stop began: exiting", os.getpid(), limit
        )
        time.sleep(0.5)  # the log's writer thread writes the line
        os._exit(EXIT_STOP_OVERRAN)

    threading.Thread(target=watch, name="shutdown watchdog", daemon=True).start()
