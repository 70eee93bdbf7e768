"""The forms through quart_app.validation: values past the schema's bounds read as today's
messages, the registration form shows the name as understood, and the checkbox's values."""

from __future__ import annotations

import pytest
from quart import Quart
from sqlalchemy import select

from quart_app.events.log import EventKind
from quart_app.events.models import AuthEvent
from quart_app.state import get_database
from tests.support.auth import (
    PASSWORD,
    AuthActions,
    Client,
    auth_set_cookie,
    record_verifies,
    users_and_sessions,
)

NEW_PASSWORD = "a brand new passphrase"
OVERSIZED = "p" * 5000  # past the schema's bound (4096), not only the policy's (1024)


async def post(client: Client, auth: AuthActions, path: str, **form: str) -> object:
    token = await auth.csrf("/login")
    return await client.post(path, form={**form, "csrf_token": token})


async def event_kinds(app: Quart) -> list[str]:
    async with get_database(app).sessionmaker() as db:
        return list((await db.execute(select(AuthEvent.kind))).scalars())


async def test_register_oversized_values_show_the_policys_messages(
    app: Quart, auth: AuthActions
) -> None:
    response = await auth.register("a" * 300, OVERSIZED)
    html = await response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Use 3 to 32 characters." in html
    assert "Use at most 1024 characters." in html
    assert await users_and_sessions(app) == (0, 0)


async def test_register_shows_the_username_as_understood(auth: AuthActions) -> None:
    response = await auth.register(" Ａｌｉｃｅ ", "short")
    html = await response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="Alice"' in html and "Use at least 12 characters." in html


async def test_login_with_an_oversized_password_is_a_plain_failure_without_argon2(
    app: Quart, auth: AuthActions
) -> None:
    await auth.register("alice")
    await auth.logout()
    verifies = record_verifies(app)
    response = await auth.login("alice", OVERSIZED)
    assert response.status_code == 401
    assert "Invalid username or password." in await response.get_data(as_text=True)
    assert verifies == []
    assert (await users_and_sessions(app))[1] == 0


@pytest.mark.parametrize(("value", "remembered"), [("yes", True), ("1", True), ("On", False)])
async def test_login_remember_checkbox_values(
    client: Client, auth: AuthActions, value: str, remembered: bool
) -> None:
    await auth.register("alice")
    await auth.logout()
    form = {"username": "alice", "password": PASSWORD, "remember": value}
    response = await post(client, auth, "/login", **form)
    assert response.status_code == 303
    assert ("Max-Age=" in auth_set_cookie(response)) is remembered


async def test_password_change_with_an_oversized_current_password_is_not_the_current_one(
    client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    response = await post(
        client, auth, "/account/password", current_password=OVERSIZED, new_password=NEW_PASSWORD
    )
    assert response.status_code == 400
    assert "That is not your current password." in await response.get_data(as_text=True)
    await auth.logout()
    assert (await auth.login("alice", PASSWORD)).status_code == 303


async def test_password_change_with_a_wrong_current_password_does_not_compare_it(
    client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    response = await post(
        client, auth, "/account/password", current_password=NEW_PASSWORD, new_password=NEW_PASSWORD
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 400
    assert "That is not your current password." in html
    assert "different from the current one" not in html


async def test_password_change_shows_every_problem_at_once(
    client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    response = await post(client, auth, "/account/password", current_password="", new_password="")
    html = await response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter your current password." in html and "Enter a password." in html


@pytest.mark.parametrize("password", ["", OVERSIZED])
async def test_delete_without_a_usable_password_keeps_the_account_and_tries_nothing(
    app: Quart, client: Client, auth: AuthActions, password: str
) -> None:
    await auth.register("alice")
    verifies = record_verifies(app)
    response = await post(client, auth, "/account/delete", password=password)
    html = await response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter your current password to delete the account." in html
    assert verifies == []
    assert EventKind.LOGIN_FAILED not in await event_kinds(app)
    assert await users_and_sessions(app) == (1, 1)
