"""Every POST form refuses a missing or wrong CSRF token with a 400 page, changing nothing."""

from __future__ import annotations

import pytest
from quart import Quart

from tests.support.auth import PASSWORD, AuthActions, Client, csrf_from, users_and_sessions

FORMS = {
    "/register": {"username": "mallory", "password": PASSWORD},
    "/login": {"username": "alice", "password": PASSWORD},
    "/logout": {},
}


@pytest.mark.parametrize("path", sorted(FORMS))
@pytest.mark.parametrize("token", [None, "", "wrong-token", "é-non-ascii"])
async def test_post_without_valid_token_is_400_and_changes_nothing(
    app: Quart, client: Client, auth: AuthActions, path: str, token: str | None
) -> None:
    await auth.register("alice")
    before = await users_and_sessions(app)
    form = dict(FORMS[path])
    if token is not None:
        form["csrf_token"] = token
    response = await client.post(path, form=form)
    assert response.status_code == 400
    assert "came from another site" in await response.get_data(as_text=True)
    assert await users_and_sessions(app) == before
    assert (await client.get("/dashboard")).status_code == 200  # still signed in


async def test_token_of_another_browser_is_refused(app: Quart, auth: AuthActions) -> None:
    other = app.test_client()
    foreign_token = await AuthActions(other).csrf("/register")
    fresh = app.test_client()
    await fresh.get("/register")  # has a session of its own, with a different token
    form = {"username": "mallory", "password": PASSWORD, "csrf_token": foreign_token}
    response = await fresh.post("/register", form=form)
    assert response.status_code == 400
    assert await users_and_sessions(app) == (0, 0)


async def test_token_in_header_is_accepted(client: Client, auth: AuthActions) -> None:
    token = await auth.csrf("/register")
    form = {"username": "alice", "password": PASSWORD}
    response = await client.post("/register", form=form, headers={"X-CSRF-Token": token})
    assert response.status_code == 303


async def test_token_changes_at_login_and_logout(auth: AuthActions) -> None:
    await auth.register("alice")
    before_logout = await auth.csrf()
    await auth.logout()
    after_logout = await auth.csrf()
    await auth.login("alice")
    after_login = await auth.csrf()
    assert len({before_logout, after_logout, after_login}) == 3


async def test_all_forms_carry_the_token(client: Client, auth: AuthActions) -> None:
    for path in ("/register", "/login"):
        assert 'name="csrf_token"' in await (await client.get(path)).get_data(as_text=True)
    await auth.register("alice")
    for path in ("/", "/logout", "/dashboard"):
        html = await (await client.get(path)).get_data(as_text=True)
        assert html.count('name="csrf_token"') >= 1  # the nav's log-out form at least


def cookie_value(client: Client, name: str) -> str:
    return next(cookie.value for cookie in client.cookie_jar if cookie.name == name)  # type: ignore[union-attr]


async def test_another_sessions_token_is_refused(app: Quart) -> None:
    """Mallory's valid token, from her own signed-in page, sent with Alice's sign-in cookie."""
    alice, mallory = AuthActions(app.test_client()), AuthActions(app.test_client())
    await alice.register("alice")
    await mallory.register("mallory")
    mallory_token = await mallory.csrf("/account/password")
    before = await users_and_sessions(app)
    response = await alice.client.post("/logout", form={"csrf_token": mallory_token})
    assert response.status_code == 400
    assert await users_and_sessions(app) == before
    assert (await alice.client.get("/dashboard")).status_code == 200  # still signed in


async def test_a_signed_out_token_does_not_survive_sign_in(app: Quart, auth: AuthActions) -> None:
    await auth.register("alice")
    await auth.logout()
    anonymous_token = await auth.csrf("/login")
    anonymous_cookie = cookie_value(auth.client, "flash_csrf")
    await auth.login("alice")
    auth.client.set_cookie("localhost", "flash_csrf", anonymous_cookie)  # replayed after login
    response = await auth.client.post("/logout", form={"csrf_token": anonymous_token})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://localhost.evil.example"},
        {"Origin": "null"},
        {"Origin": "null", "Sec-Fetch-Site": "same-site"},  # a sibling subdomain's page
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://localhost", "Sec-Fetch-Site": "cross-site"},
    ],
)
async def test_a_post_from_another_site_is_refused_even_with_the_token(
    app: Quart, auth: AuthActions, headers: dict[str, str]
) -> None:
    await auth.register("alice")
    token = await auth.csrf("/login")
    before = await users_and_sessions(app)
    response = await auth.client.post("/logout", form={"csrf_token": token}, headers=headers)
    assert response.status_code == 400
    assert await users_and_sessions(app) == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://localhost"},
        {"Origin": "https://LOCALHOST"},  # a proxy in front may end TLS: the host decides
        {"Sec-Fetch-Site": "same-origin"},
        # Chromium's own form POST from a page with Referrer-Policy: no-referrer.
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
        {},
    ],
)
async def test_a_post_from_this_site_is_accepted(
    auth: AuthActions, headers: dict[str, str]
) -> None:
    token = await auth.csrf("/register")
    form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    assert (await auth.client.post("/register", form=form, headers=headers)).status_code == 303


async def test_signed_in_pages_need_no_cookie_session(app: Quart, auth: AuthActions) -> None:
    """The signed-out token's cookie goes at sign-in; signed-in pages derive theirs."""
    await auth.register("alice")
    await auth.client.get("/")  # shows the welcome flash, the cookie session's last content
    assert "flash_csrf" not in {cookie.name for cookie in auth.client.cookie_jar}  # type: ignore[union-attr]
    response = await auth.client.get("/dashboard")
    assert "flash_csrf" not in response.headers.get("Set-Cookie", "")
    token = csrf_from(await response.get_data(as_text=True))
    assert token == await auth.csrf("/account/password")  # the same on every page of a session
    assert (await auth.client.post("/logout", form={"csrf_token": token})).status_code == 303


async def test_a_token_ends_with_its_session_id(app: Quart, auth: AuthActions) -> None:
    """A password change rotates the session id: a page rendered before it no longer posts."""
    await auth.register("alice")
    old_token = await auth.csrf("/account/password")
    form = {"current_password": PASSWORD, "new_password": PASSWORD + " and more",
            "csrf_token": old_token}  # fmt: skip
    assert (await auth.client.post("/account/password", form=form)).status_code == 303
    response = await auth.client.post("/logout", form={"csrf_token": old_token})
    assert response.status_code == 400
    new_token = await auth.csrf("/account/password")
    assert new_token != old_token
    assert (await auth.client.post("/logout", form={"csrf_token": new_token})).status_code == 303
