"""X-Request-ID: kept when sane, made otherwise, echoed on every answer (a shed 503 too) and
stamped on the request's log lines."""

from __future__ import annotations

import logging
import re

import pytest

from quart_app.web.request_id import request_id_of
from tests.support.auth import Client

MADE = re.compile(r"[0-9a-f]{32}")


async def test_a_sane_incoming_id_is_kept(client: Client) -> None:
    response = await client.get("/login", headers={"X-Request-ID": "lb-7f3a:42.x_y"})
    assert response.headers.getlist("X-Request-ID") == ["lb-7f3a:42.x_y"]


@pytest.mark.parametrize("sent", ["", "a" * 129, "has space", "new\nline", "é"])
def test_an_odd_incoming_id_is_replaced_whole(sent: str) -> None:
    made = request_id_of([(b"x-request-id", sent.encode())])
    assert MADE.fullmatch(made)


def test_two_incoming_ids_are_one_too_many() -> None:
    assert MADE.fullmatch(request_id_of([(b"x-request-id", b"a"), (b"X-Request-ID", b"b")]))


async def test_every_answer_carries_one_even_an_error(client: Client) -> None:
    ids = set()
    for path in ("/", "/no-such-page", "/healthz", "/api/v1/me"):
        response = await client.get(path)
        (value,) = response.headers.getlist("X-Request-ID")
        assert MADE.fullmatch(value)
        ids.add(value)
    assert len(ids) == 4  # one per request


async def test_the_requests_log_lines_carry_its_id(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The id is stamped by the server's pipeline (core.log_setup); what it reads is the
    context variable the middleware sets, and a line written during the request sees it."""
    from quart_app.core.log_setup import RequestIdFilter

    stamp = RequestIdFilter()
    caplog.handler.addFilter(stamp)
    try:
        with caplog.at_level(logging.WARNING, logger="quart_app.security"):
            response = await client.post(
                "/login", form={"username": "x"}, headers={"X-Request-ID": "trace-me-1"}
            )
    finally:
        caplog.handler.removeFilter(stamp)
    assert response.status_code == 400  # no CSRF token
    (record,) = [r for r in caplog.records if r.name == "quart_app.security"]
    assert record.request_id == "trace-me-1"  # type: ignore[attr-defined]
    assert record.event == "malicious_csrf"  # type: ignore[attr-defined]
