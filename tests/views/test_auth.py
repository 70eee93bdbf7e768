"""Register, log in, log out through Quart's test client."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from quart import Quart
from sqlalchemy import select, update

from quart_app.accounts.models import User
from quart_app.core.clock import utcnow
from quart_app.core.database import Database
from quart_app.sessions.models import UserSession
from quart_app.state import get_database, get_hasher
from tests.support.auth import (
    PASSWORD,
    AuthActions,
    Client,
    auth_set_cookie,
    count_rows,
    csrf_from,
    record_verifies,
    users_and_sessions,
)

# --- register -------------------------------------------------------------------------------


async def test_register_signs_in_and_redirects_home(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    response = await auth.register("alice")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "HttpOnly" in auth_set_cookie(response) and "SameSite=Lax" in auth_set_cookie(response)
    assert await count_rows(app, User) == 1 and await count_rows(app, UserSession) == 1
    assert (await client.get("/dashboard")).status_code == 200


async def test_register_form_has_fields_and_autocomplete(client: Client) -> None:
    html = await (await client.get("/register")).get_data(as_text=True)
    for expected in ('name="username"', 'name="password"', 'name="csrf_token"'):
        assert expected in html
    assert 'autocomplete="new-password"' in html and 'autocomplete="username"' in html


@pytest.mark.parametrize("variant", ["ALICE", " alice ", "Ａｌｉｃｅ", "aLiCe"])
async def test_register_taken_name_is_409_case_and_width_insensitive(
    app: Quart, client: Client, auth: AuthActions, variant: str
) -> None:
    await auth.register("alice")
    await auth.logout()
    response = await auth.register(variant)
    html = await response.get_data(as_text=True)
    assert response.status_code == 409
    assert "That username is taken" in html
    assert await count_rows(app, User) == 1


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", PASSWORD, "Enter a username."),
        ("ab", PASSWORD, "Use 3 to 32 characters."),
        ("a" * 33, PASSWORD, "Use 3 to 32 characters."),
        ("bad name", PASSWORD, "Use only letters"),
        ("bad/name", PASSWORD, "Use only letters"),
        ("<script>", PASSWORD, "Use only letters"),
        ("nul\x00name", PASSWORD, "Use only letters"),
        ("alice", "", "Enter a password."),
        ("alice", "short pass1", "Use at least 12 characters."),
        ("alice", "x" * 1025, "Use at most 1024 characters."),
        ("alice", "twelve chars\x00ok", "Control characters"),
        ("alice", "peanutbutter", "most common passwords"),
        ("alice", "passwordpassword", "Avoid repeated characters"),
        ("alice.smith-2026", "Alice.Smith-2026", "must not be your username"),
    ],
)
async def test_register_invalid_input_is_400_with_field_message(
    app: Quart, client: Client, auth: AuthActions, username: str, password: str, message: str
) -> None:
    response = await auth.register(username, password)
    html = await response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html
    assert await count_rows(app, User) == 0
    assert "auth=" not in " ".join(response.headers.getlist("Set-Cookie"))


async def test_register_never_echoes_the_password(auth: AuthActions) -> None:
    response = await auth.register("bad name", "my secret passphrase")
    assert "my secret passphrase" not in await response.get_data(as_text=True)


async def test_register_accepts_unicode_and_spaces_in_password(
    client: Client, auth: AuthActions
) -> None:
    assert (await auth.register("zoe", "ünïcödé pass phrase 🔑")).status_code == 303
    await auth.logout()
    assert (await auth.login("zoe", "ünïcödé pass phrase 🔑")).status_code == 303


async def test_concurrent_registrations_of_one_name_yield_one_user(app: Quart) -> None:
    clients = [app.test_client() for _ in range(6)]
    tokens = [await AuthActions(each).csrf("/register") for each in clients]

    async def register(each: Client, token: str, name: str) -> int:
        form = {"username": name, "password": PASSWORD, "csrf_token": token}
        return (await each.post("/register", form=form)).status_code

    names = ["racer", "RACER", "Racer", "racer", "ｒａｃｅｒ", "racer "]
    statuses = await asyncio.gather(*map(register, clients, tokens, names))
    assert sorted(statuses) == [303, 409, 409, 409, 409, 409]
    assert await count_rows(app, User) == 1


# --- login ----------------------------------------------------------------------------------


async def test_login_success_redirects_home_with_fresh_session(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    await auth.logout()
    response = await auth.login("ALICE")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert "alice" in await (await client.get("/")).get_data(as_text=True)
    assert await count_rows(app, UserSession) == 1


async def test_login_issues_a_new_session_id_every_time(client: Client, auth: AuthActions) -> None:
    await auth.register("alice")
    await auth.logout()
    first = auth_set_cookie(await auth.login("alice"))
    await auth.logout()
    second = auth_set_cookie(await auth.login("alice"))
    assert first.split(";")[0] != second.split(";")[0]


async def test_login_with_a_dead_sessions_cookie_leaves_no_row_behind(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    async with get_database(app).sessionmaker() as db:  # quiet past the idle timeout
        await db.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(hours=1)))
        await db.commit()
    assert (await auth.login("alice")).status_code == 303  # the old cookie is still sent
    assert await count_rows(app, UserSession) == 1


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password here"), ("nobody", PASSWORD), ("x" * 200, PASSWORD)],
)
async def test_login_failure_is_401_with_one_generic_message(
    app: Quart, client: Client, auth: AuthActions, username: str, password: str
) -> None:
    await auth.register("alice")
    await auth.logout()
    response = await auth.login(username, password)
    html = await response.get_data(as_text=True)
    assert response.status_code == 401
    assert "Invalid username or password." in html
    assert password not in html
    assert await count_rows(app, UserSession) == 0
    assert (await client.get("/dashboard")).status_code == 302


async def test_login_unknown_user_costs_an_argon2_verify(app: Quart, auth: AuthActions) -> None:
    hasher = get_hasher(app)
    calls = record_verifies(app)
    await auth.register("alice")
    await auth.logout()
    await auth.login("alice", "wrong password here")
    await auth.login("nobody", "wrong password here")
    assert len(calls) == 2
    assert calls[1] == await hasher.dummy_hash()
    assert all(call.startswith("$argon2id$") for call in calls)


@pytest.mark.parametrize(
    ("field", "message"),
    [("username", "Enter your username."), ("password", "Enter your password.")],
)
async def test_login_missing_field_is_400(
    auth: AuthActions, client: Client, field: str, message: str
) -> None:
    token = await auth.csrf("/login")
    form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    del form[field]
    response = await client.post("/login", form=form)
    assert response.status_code == 400
    assert message in await response.get_data(as_text=True)


async def test_login_follows_safe_next(client: Client, auth: AuthActions) -> None:
    await auth.register("alice")
    await auth.logout()
    response = await auth.login("alice", next_path="/dashboard")
    assert response.status_code == 303
    assert response.headers["Location"] == "/dashboard"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "https:evil.example",
        "https://evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        "//user@evil.example",
    ],
)
async def test_login_ignores_unsafe_next(auth: AuthActions, target: str) -> None:
    await auth.register("alice")
    await auth.logout()
    response = await auth.login("alice", next_path=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


async def test_login_form_keeps_safe_next_in_action(client: Client) -> None:
    html = await (await client.get("/login?next=/dashboard")).get_data(as_text=True)
    assert 'action="/login?next=/dashboard"' in html
    html = await (await client.get("/login?next=//evil.example")).get_data(as_text=True)
    assert "evil.example" not in html


async def test_login_upgrades_hash_made_with_old_parameters(
    app: Quart, app_config: dict, auth: AuthActions
) -> None:
    await auth.register("alice")
    await auth.logout()
    database: Database = get_database(app)
    assert database.sessionmaker is not None
    async with database.sessionmaker() as db:
        old_hash = (await db.execute(select(User.password_hash))).scalar_one()
    assert "m=8,t=1" in old_hash  # the fast-tests profile
    hasher = get_hasher(app)
    hasher.hasher = type(hasher.hasher)(time_cost=2, memory_cost=2048, parallelism=1)
    assert (await auth.login("alice")).status_code == 303
    async with database.sessionmaker() as db:
        new_hash = (await db.execute(select(User.password_hash))).scalar_one()
    assert new_hash != old_hash and "m=2048,t=2" in new_hash
    await auth.logout()
    assert (await auth.login("alice")).status_code == 303


# --- remember me and cookie flags --------------------------------------------------------------


async def test_login_without_remember_sets_browser_session_cookie(auth: AuthActions) -> None:
    await auth.register("alice")
    await auth.logout()
    cookie = auth_set_cookie(await auth.login("alice"))
    assert "Expires" not in cookie and "Max-Age" not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


async def test_login_with_remember_sets_thirty_day_cookie(auth: AuthActions) -> None:
    await auth.register("alice")
    await auth.logout()
    cookie = auth_set_cookie(await auth.login("alice", remember=True))
    assert f"Max-Age={30 * 24 * 3600}" in cookie


async def test_cookies_are_secure_by_default(app_config: dict) -> None:
    from quart_app import create_app

    app_config = {**app_config, "COOKIE_SECURE": True}
    application = create_app(app_config)
    async with application.test_app():
        client = application.test_client()
        token = csrf_from(
            await (await client.get("/register", scheme="https")).get_data(as_text=True)
        )
        form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
        response = await client.post("/register", form=form, scheme="https")
        assert response.status_code == 303
        cookies = response.headers.getlist("Set-Cookie")
        assert cookies and all("Secure" in cookie for cookie in cookies)


# --- logout ---------------------------------------------------------------------------------


async def test_logout_ends_session_and_redirects_home(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    response = await auth.logout()
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert await count_rows(app, UserSession) == 0
    assert (await client.get("/dashboard")).status_code == 302


async def test_logout_refuses_replayed_cookie(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    await auth.logout()
    stolen = auth_set_cookie(await auth.login("alice")).split(";")[0]
    await auth.logout()
    thief = app.test_client()
    response = await thief.get("/dashboard", headers={"Cookie": stolen})
    assert response.status_code == 302
    # ...and the dead cookie is cleared from the browser that sent it.
    assert any(c.startswith("auth=;") for c in response.headers.getlist("Set-Cookie"))


async def test_get_logout_shows_button_and_does_not_log_out(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    response = await client.get("/logout")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'method="post" action="/logout"' in html
    assert await count_rows(app, UserSession) == 1
    assert (await client.get("/dashboard")).status_code == 200


async def test_logout_when_signed_out_is_harmless(client: Client, auth: AuthActions) -> None:
    response = await auth.logout()
    assert response.status_code == 303


@pytest.mark.parametrize("path", ["/register", "/login", "/login?next=/account/sessions"])
async def test_a_signed_in_browser_posting_a_sign_in_form_is_refused_and_nothing_changes(
    app: Quart, client: Client, auth: AuthActions, path: str
) -> None:
    await auth.register("alice")
    await AuthActions(app.test_client()).register("bob")
    before = await users_and_sessions(app)
    token = await auth.csrf(path)  # the signed-in page's own token: a valid form post
    form = {"username": "bob", "password": PASSWORD, "csrf_token": token}
    refused = await client.post(path, form=form)
    assert refused.status_code == 403
    page = await refused.get_data(as_text=True)
    assert "signed in as <strong>alice</strong>" in page and "log out first" in page
    assert "Set-Cookie" not in refused.headers  # the session is left as it was
    assert await users_and_sessions(app) == before
    assert "alice" in await (await client.get("/dashboard")).get_data(as_text=True)
    continuing = "/account/sessions" if "next" in path else "/dashboard"
    assert f'href="{continuing}">Continue as alice' in page
