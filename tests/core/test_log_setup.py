"""The log pipeline: JSON or text lines with the request id, written by a thread."""

from __future__ import annotations

import io
import json
import logging
import queue
from logging.handlers import QueueHandler, QueueListener

import pytest

from quart_app.config import ConfigError, Settings
from quart_app.core.log_setup import (
    REQUEST_ID,
    TEXT_FORMAT,
    RequestIdFilter,
    UtcJsonFormatter,
    UtcTextFormatter,
)


def _line(formatter: logging.Formatter, request_id: str | None, **extra: object) -> str:
    """One record made in a request's context and written by a listener thread, as in the
    server (the id is stamped where the record is made, not in the thread)."""
    stream = io.StringIO()
    writer = logging.StreamHandler(stream)
    writer.setFormatter(formatter)
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = QueueListener(lines, writer)
    handler = QueueHandler(lines)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tests.log_setup")
    logger.handlers, logger.propagate, logger.level = [handler], False, logging.INFO
    listener.start()
    token = REQUEST_ID.set(request_id)
    try:
        logger.warning("authn_login_fail:%s", 7, extra=extra)
    finally:
        REQUEST_ID.reset(token)
        listener.stop()
    return stream.getvalue()


def test_json_lines_carry_time_level_logger_message_request_id_and_extras() -> None:
    line = _line(UtcJsonFormatter(), "req-1", event="authn_login_fail", user_id=7)
    assert line.count("\n") == 1
    data = json.loads(line)
    assert data["level"] == "WARNING"
    assert data["logger"] == "tests.log_setup"
    assert data["message"] == "authn_login_fail:7"
    assert data["request_id"] == "req-1"
    assert data["event"] == "authn_login_fail" and data["user_id"] == 7
    assert data["time"].endswith("+00:00")  # ISO-8601 in UTC


def test_a_line_outside_any_request_says_so() -> None:
    assert json.loads(_line(UtcJsonFormatter(), None))["request_id"] == "-"


def test_a_message_that_holds_newlines_stays_one_json_line() -> None:
    line = _line(UtcJsonFormatter(), "req-2", user_agent='evil\n{"level": "INFO"}')
    assert line.count("\n") == 1
    assert json.loads(line)["user_agent"] == 'evil\n{"level": "INFO"}'


def test_text_lines_are_readable_and_in_utc() -> None:
    line = _line(UtcTextFormatter(TEXT_FORMAT), "req-3")
    assert "WARNING tests.log_setup [req-3] authn_login_fail:7" in line
    assert line.split(" ", 1)[0].endswith("+00:00")


def test_an_unknown_log_format_stops_the_app_with_its_name() -> None:
    with pytest.raises(ConfigError, match="LOG_FORMAT must be one of text, json; got 'xml'"):
        Settings.load({"LOG_FORMAT": "xml"})
    assert Settings.load({"LOG_FORMAT": "json"}).LOG_FORMAT == "json"
