"""An account an operator locked: the right password, a passkey, an API token request and a
second factor all sign nobody in, with the answers a failure gets; its sessions are gone."""

from __future__ import annotations

from typing import Any

from quart import Quart

from quart_app.accounts.administration import account_summaries, lock_account, unlock_account
from quart_app.accounts.models import User
from quart_app.state import get_database
from quart_app.testing.webauthn import SoftPasskey
from tests.support.auth import PASSWORD, AuthActions, Client
from tests.support.passkeys import ORIGIN, add, passkey_sign_in


async def lock(app: Quart, user: User) -> int | None:
    async with get_database(app).new_db() as db:
        ended = await lock_account(db, user)
        await db.commit()
    return ended


async def test_a_locked_account_signs_in_nowhere_and_its_sessions_end(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, signed_in_client: Any
) -> None:
    ann = await make_user("ann")
    browser = await signed_in_client(ann)
    passkey = SoftPasskey(ORIGIN)
    assert (await add(browser, passkey)).status_code == 200
    assert await lock(app, ann) == 1
    assert (await browser.get("/dashboard")).status_code == 302  # a session from before

    refused = await auth.login("ann", PASSWORD)
    assert refused.status_code == 401
    assert "Invalid username or password." in await refused.get_data(as_text=True)
    token = await client.post("/api/v1/tokens", json={"username": "ann", "password": PASSWORD})
    assert token.status_code == 401
    assert (await passkey_sign_in(client, passkey)).status_code == 401
    assert (await client.get("/dashboard")).status_code == 302

    async with get_database(app).new_db() as db:
        assert await unlock_account(db, ann)
        await db.commit()
        (summary,) = await account_summaries(db, ann.id)
    assert summary.locked_at is None and summary.passkeys == 1
    assert (await auth.login("ann", PASSWORD)).status_code == 303


async def test_locking_ends_a_pending_second_factor(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, totp_device: Any
) -> None:
    ann = await make_user("ann")
    device = await totp_device(ann)
    assert (await auth.login("ann", PASSWORD)).headers["Location"] == "/login/two-factor"
    await lock(app, ann)
    page = await client.get("/login/two-factor")
    assert (page.status_code, page.headers["Location"]) == (303, "/login")
    assert device.secret  # enrolled, and still refused
