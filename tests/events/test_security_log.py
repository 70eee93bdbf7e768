"""Security events as log lines: OWASP's names, written once their transaction commits, with
the account, address and browser and nothing secret."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from quart import Quart

from quart_app import create_app
from quart_app.core.database import get_database
from quart_app.events.log import EventKind, add_event
from quart_app.events.security_log import OWASP_NAMES
from tests.support.auth import PASSWORD, AuthActions, Client

SECURITY = "quart_app.security"


def security_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == SECURITY]


def test_every_event_kind_has_an_owasp_name() -> None:
    assert set(OWASP_NAMES) == {kind.value for kind in EventKind}


async def test_sign_in_outcomes_are_logged_by_owasp_name(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    auth = AuthActions(client)
    with caplog.at_level(logging.INFO, logger=SECURITY):
        await auth.register("alice")
        await auth.logout()
        await auth.login("alice", "not the password at all")
        await auth.login("alice")
    events = [(r.event, r.kind) for r in security_lines(caplog)]  # type: ignore[attr-defined]
    assert events == [
        ("user_created", "registered"),
        ("session_expired", "logged_out"),
        ("authn_login_fail", "login_failed"),
        ("authn_login_success", "login_succeeded"),
    ]
    failed = security_lines(caplog)[2]
    assert failed.levelno == logging.WARNING
    assert failed.source_ip and failed.user_id  # type: ignore[attr-defined]
    for record in security_lines(caplog):
        text = record.getMessage() + repr(record.__dict__)
        assert PASSWORD not in text and "not the password" not in text


async def test_an_event_rolled_back_is_not_logged(
    app: Quart, make_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = await make_user("alice")
    async with app.test_request_context("/"):
        with caplog.at_level(logging.INFO, logger=SECURITY):
            async with get_database(app).new_db() as db:
                await add_event(db, user.id, EventKind.PASSWORD_CHANGED)
                await db.rollback()
            assert security_lines(caplog) == []
            async with get_database(app).new_db() as db:
                await add_event(db, user.id, EventKind.PASSWORD_CHANGED)
                assert security_lines(caplog) == []  # not before the commit
                await db.commit()
    (line,) = security_lines(caplog)
    assert line.event == "authn_password_change"  # type: ignore[attr-defined]


async def test_a_per_ip_rate_refusal_is_logged(
    app_config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app({**app_config, "THROTTLE_LOGIN_PER_MINUTE": 1})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        with caplog.at_level(logging.INFO, logger=SECURITY):
            await auth.login("nobody", PASSWORD)
            assert (await auth.login("nobody", PASSWORD)).status_code == 429
    names = [r.event for r in security_lines(caplog)]  # type: ignore[attr-defined]
    assert "excess_rate_limit_exceeded" in names
