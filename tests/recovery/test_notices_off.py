"""NOTIFY_NEW_SIGN_IN=false: no notice for a sign-in from a new browser."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart

from tests.recovery.test_notices import quiet, sign_in
from tests.support.mail import with_address


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "NOTIFY_NEW_SIGN_IN": False}


async def test_the_setting_turns_the_notice_off(
    app: Quart, make_user: Any, mail_outbox: Any
) -> None:
    await with_address(app, await make_user("ann"), "ann@example.org")
    assert await sign_in(app, "Firefox on Linux") == 303
    await quiet(mail_outbox, 0)
