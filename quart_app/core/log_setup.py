"""The server's log lines: readable text (LOG_FORMAT=text) or one JSON object per line (json),
each with the request id of the request that wrote it, and never written on the event loop.

A handler that writes to stderr blocks the loop while the pipe or the disk is slow. Every line
goes instead through a QueueHandler (a put on an in-memory queue) to a listener thread that
formats and writes it. The request id is read where the line is made (the queue handler's
filter runs in the request's context), not in the thread.

The server entry point (asgi.py) calls ``configure_logging``; hypercorn's own error log joins
the same pipeline through ``hypercorn.toml``'s ``logconfig_dict`` (``hypercorn_handler``).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import queue
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from typing import IO

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
NO_REQUEST = "-"
# The loggers this pipeline takes over: the app's own tree and asyncio's (a task's unhandled
# error). Others (hypercorn's error log, via hypercorn_handler) join by configuration.
LOGGERS = ("quart_app", "asyncio")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

_pipeline: QueueHandler | None = None


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request that made it ("-" outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or NO_REQUEST
        return True


class UtcJsonFormatter(JsonFormatter):
    """time (ISO-8601, UTC), level, logger, message, request_id, then the record's extras
    (a security event's event, user_id, source_ip, user_agent)."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # the record's time, ISO-8601 in UTC
        )


class UtcTextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


def formatter_for(log_format: str) -> logging.Formatter:
    return UtcJsonFormatter() if log_format == "json" else UtcTextFormatter(TEXT_FORMAT)


def configure_logging(log_format: str, stream: IO[str] | None = None) -> QueueHandler:
    """Route the app's loggers through one queue to a thread writing ``stream`` (stderr) in
    ``log_format``; once per process (a second call returns the first pipeline)."""
    global _pipeline
    if _pipeline is not None:
        return _pipeline
    writer = logging.StreamHandler(stream or sys.stderr)
    writer.setFormatter(formatter_for(log_format))
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = QueueListener(lines, writer, respect_handler_level=False)
    listener.start()
    stop = _once(listener.stop)
    # The lines still queued are written before the process exits: atexit for a process on its
    # own; a multiprocessing child (a hypercorn worker) runs only multiprocessing's finalizers.
    atexit.register(stop)
    multiprocessing.util.Finalize(None, stop, exitpriority=0)
    handler = QueueHandler(lines)
    handler.addFilter(RequestIdFilter())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
    _pipeline = handler
    return handler


def _once(function: Callable[[], None]) -> Callable[[], None]:
    done = threading.Event()

    def run() -> None:
        if not done.is_set():
            done.set()
            function()

    return run


def hypercorn_handler() -> logging.Handler:
    """The handler ``hypercorn.toml`` gives hypercorn's error log: the app's pipeline once the
    app has configured it (it has, in a worker: the app is imported first), else stderr."""
    if _pipeline is not None:
        return _pipeline
    fallback = logging.StreamHandler(sys.stderr)
    fallback.setFormatter(UtcTextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    return fallback
