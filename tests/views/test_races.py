"""Concurrent requests on one account: exactly one change wins, and nobody gets a 5xx.

What the probe saw: ten parallel password changes all answered "changed" (one new password
worked), a change racing a deletion answered 500, a login racing a deletion answered 503, and
parallel deletions logged warnings.
"""

from __future__ import annotations

import asyncio

from quart import Quart
from sqlalchemy import func, select

from quart_app.accounts.models import User
from quart_app.events.models import AuthEvent
from quart_app.state import get_database
from tests.support.auth import PASSWORD, AuthActions, Client, count_rows

NEW_PASSWORDS = [f"a brand new passphrase number {n}" for n in range(10)]


async def signed_in(app: Quart, username: str = "alice") -> AuthActions:
    actions = AuthActions(app.test_client())
    assert (await actions.login(username)).status_code == 303
    return actions


async def post_form(actions: AuthActions, path: str, **form: str) -> int:
    token = await actions.csrf("/login")
    response = await actions.client.post(path, form={**form, "csrf_token": token})
    return response.status_code


async def password_changes(app: Quart) -> int:
    async with get_database(app).sessionmaker() as db:
        query = select(func.count()).where(AuthEvent.kind == "password_changed")
        return (await db.execute(query)).scalar_one()


async def test_parallel_password_changes_let_exactly_one_win(app: Quart, auth: AuthActions) -> None:
    await auth.register("alice")
    browsers = [await signed_in(app) for _ in NEW_PASSWORDS]
    statuses = await asyncio.gather(
        *(
            post_form(browser, "/account/password", current_password=PASSWORD, new_password=new)
            for browser, new in zip(browsers, NEW_PASSWORDS, strict=True)
        )
    )
    # One wins; each other loses with 400 (its current password is no longer right), or, when
    # the winner ended its session before it was looked up, 302 to the login page.
    assert statuses.count(303) == 1 and set(statuses) <= {303, 400, 302}
    assert await password_changes(app) == 1
    winner = NEW_PASSWORDS[statuses.index(303)]
    fresh = AuthActions(app.test_client())
    assert (await fresh.login("alice", PASSWORD)).status_code == 401
    losers = [p for p in NEW_PASSWORDS if p != winner]
    assert [(await fresh.login("alice", p)).status_code for p in losers[:2]] == [401, 401]
    assert (await fresh.login("alice", winner)).status_code == 303


async def test_a_password_change_racing_a_deletion_is_never_a_5xx(
    app: Quart, auth: AuthActions
) -> None:
    kept = 0
    for round_number in range(3):
        username = f"racer{round_number}"
        await auth.register(username)
        changer, deleter = await signed_in(app, username), await signed_in(app, username)
        change, deletion = await asyncio.gather(
            post_form(
                changer,
                "/account/password",
                current_password=PASSWORD,
                new_password=NEW_PASSWORDS[0],
            ),
            post_form(deleter, "/account/delete", password=PASSWORD),
        )
        if deletion == 303:
            assert change in {303, 400, 302}  # won; lost; or found the account gone (to log in)
            continue
        # The change committed before the deletion checked its password, as in the parallel
        # changes above: the deletion's password is no longer right (400), or its session was
        # ended with the others before it was looked up (302). The account is whole, with the
        # new password.
        assert change == 303 and deletion in {400, 302}
        fresh = AuthActions(app.test_client())
        assert (await fresh.login(username, PASSWORD)).status_code == 401
        assert (await fresh.login(username, NEW_PASSWORDS[0])).status_code == 303
        kept += 1
    assert await count_rows(app, User) == kept


async def test_a_login_racing_a_deletion_is_a_failed_login_not_an_outage(
    app: Quart, auth: AuthActions
) -> None:
    for round_number in range(3):
        username = f"gone{round_number}"
        await auth.register(username)
        deleter = await signed_in(app, username)
        logger = AuthActions(app.test_client())
        token = await logger.csrf("/login")
        form = {"username": username, "password": PASSWORD, "csrf_token": token}
        login, deletion = await asyncio.gather(
            logger.client.post("/login", form=form),
            post_form(deleter, "/account/delete", password=PASSWORD),
        )
        assert deletion == 303
        assert login.status_code in {303, 401}, await login.get_data(as_text=True)


async def test_parallel_deletions_are_one_deletion(app: Quart, auth: AuthActions) -> None:
    await auth.register("alice")
    browsers = [await signed_in(app) for _ in range(4)]
    statuses = await asyncio.gather(
        *(post_form(browser, "/account/delete", password=PASSWORD) for browser in browsers)
    )
    assert set(statuses) <= {303, 302}  # deleted; or already gone, hence signed out
    assert await count_rows(app, User) == 0


async def test_a_session_id_past_64_bits_is_404(client: Client, auth: AuthActions) -> None:
    await auth.register("alice")
    for session_id in ("9223372036854775808", "99999999999999999999999"):
        response = await client.post(
            f"/account/sessions/{session_id}/revoke", form={"csrf_token": await auth.csrf()}
        )
        assert response.status_code == 404
    assert (await client.get("/dashboard")).status_code == 200
