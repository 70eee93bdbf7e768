"""The "new sign-in" notice: mailed for a browser the account has not signed in from before,
only to a confirmed address, and not at all with NOTIFY_NEW_SIGN_IN off."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Quart

from tests.support.auth import PASSWORD, AuthActions
from tests.support.mail import with_address

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


async def quiet(mail_outbox: Any, count: int) -> None:
    """Give the sender time, then check that nothing else came."""
    await asyncio.sleep(0.5)
    assert len(mail_outbox.messages) == count, [m["Subject"] for m in mail_outbox.messages]


async def sign_in(app: Quart, user_agent: str) -> int:
    """A login from a new client (browser) with this user agent; its status."""
    client = app.test_client()
    auth = AuthActions(client)
    token = await auth.csrf("/login")
    response = await client.post(
        "/login",
        form={"username": "ann", "password": PASSWORD, "csrf_token": token},
        headers={"User-Agent": user_agent},
    )
    return int(response.status_code)


async def test_a_sign_in_from_a_new_browser_is_mailed_once(
    app: Quart, make_user: Any, mail_outbox: Any
) -> None:
    await with_address(app, await make_user("ann"), "ann@example.org")
    assert await sign_in(app, FIREFOX_LINUX) == 303
    (notice,) = await mail_outbox.wait_for(1)
    assert notice["To"] == "ann@example.org"
    assert notice["Subject"] == "New sign-in to your account"
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert "Firefox on Linux" in text and "/account/sessions" in text
    assert await sign_in(app, FIREFOX_LINUX) == 303  # known now
    await quiet(mail_outbox, 1)
    assert await sign_in(app, "Chrome on Android") == 303
    await mail_outbox.wait_for(2)
    assert mail_outbox.messages[1]["Subject"] == "New sign-in to your account"


async def test_a_notice_names_the_browser_as_people_do(
    app: Quart, make_user: Any, mail_outbox: Any
) -> None:
    await with_address(app, await make_user("ann"), "ann@example.org")
    chrome = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    assert await sign_in(app, chrome) == 303
    (notice,) = await mail_outbox.wait_for(1)
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert "Browser: Chrome on Windows" in text and "Mozilla/5.0" not in text


async def test_no_notice_without_a_confirmed_address(
    app: Quart, make_user: Any, mail_outbox: Any
) -> None:
    await make_user("ann")
    assert await sign_in(app, "Firefox on Linux") == 303
    await quiet(mail_outbox, 0)


async def test_a_failed_sign_in_sends_no_new_browser_notice(
    app: Quart, make_user: Any, mail_outbox: Any
) -> None:
    await with_address(app, await make_user("ann"), "ann@example.org")
    client = app.test_client()
    token = await AuthActions(client).csrf("/login")
    form = {"username": "ann", "password": "not the password", "csrf_token": token}
    assert (await client.post("/login", form=form)).status_code == 401
    await quiet(mail_outbox, 0)
