"""The ASGI entry point for servers: ``hypercorn --config hypercorn.toml quart_app.asgi:app``."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from typing import NoReturn

from quart_app import create_app
from quart_app.config import ConfigError, Settings
from quart_app.core.log_setup import configure_logging
from quart_app.core.server_process import in_hypercorn_worker
from quart_app.core.worker_stop import prepare_worker_stop

# sysexits.h EX_CONFIG: what a worker exits with, and the server too under --workers 0.
EXIT_CONFIG_ERROR = 78


def _exit_for_config_error(error: ConfigError) -> NoReturn:
    """Print the error's one line, stop the whole server with a failure status, and exit.

    A worker's exit status does not reach a supervisor: hypercorn 0.18's master records it and
    then overwrites it with 0 while it reaps the other workers (pgjones/hypercorn#269), so the
    server would look like it stopped cleanly. The master runs none of the app's code, so the
    first worker to fail kills it; SIGKILL because the master handles SIGTERM and SIGINT as a
    clean shutdown. Every worker reads the same environment, so the others fail the same way,
    and they stay quiet once the master is gone: the line is printed once. Drop the kill when
    hypercorn passes worker exit statuses on.
    """
    if not in_hypercorn_worker():  # the server process itself (--workers 0, another server)
        print(error.report(), file=sys.stderr, flush=True)
        sys.exit(EXIT_CONFIG_ERROR)
    master = multiprocessing.parent_process()
    # A parent pid that changed means the master is gone and a sibling already reported.
    if master is not None and master.pid == os.getppid():
        print(error.report(), file=sys.stderr, flush=True)
        os.kill(master.pid, signal.SIGKILL)
    sys.exit(EXIT_CONFIG_ERROR)


prepare_worker_stop()
try:
    # The server's process: its lines in their format from the first (a start-up warning too).
    configure_logging(Settings.load().LOG_FORMAT)
    app = create_app()
except ConfigError as config_error:
    _exit_for_config_error(config_error)
