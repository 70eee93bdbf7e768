"""The metrics' part in the app's life: request timing from the first hook, and a stopping
worker's live gauges removed (its counters stay: the server's totals must not go down)."""

from __future__ import annotations

import os

from prometheus_client import multiprocess
from quart import Quart

from quart_app.core.server_process import in_hypercorn_worker
from quart_app.metrics import requests
from quart_app.metrics.directory import ENVIRONMENT_VARIABLE
from quart_app.state import METRICS_NETWORKS, set_state
from quart_app.web.client_ip import parse_networks


def init_app(app: Quart, allowed: tuple[str, ...]) -> None:
    set_state(app, METRICS_NETWORKS, parse_networks(allowed))
    requests.init_app(app)

    async def worker_stopped() -> None:
        # Only a hypercorn worker's process ends with its serving; a test client's does not.
        if in_hypercorn_worker():
            multiprocess.mark_process_dead(os.getpid(), os.environ[ENVIRONMENT_VARIABLE])

    app.after_serving(worker_stopped)
