"""HEAD does exactly what GET does, and a method a route does not serve is a 405 with Allow.

The probe found HEAD running the form actions (no CSRF token, no per-IP limit): HEAD /logout
signed out, HEAD /register created accounts, HEAD /account/delete deleted one.
"""

from __future__ import annotations

import pytest
from quart import Quart

from quart_app.events.models import AuthEvent
from tests.support.auth import PASSWORD, AuthActions, Client, count_rows, users_and_sessions

NEW_PASSWORD = "a brand new passphrase"
FORMS = {
    "/register": {"username": "mallory", "password": PASSWORD},
    "/login": {"username": "alice", "password": PASSWORD, "remember": "on"},
    "/logout": {},
    "/account/password": {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    "/account/delete": {"password": PASSWORD},
}


@pytest.mark.parametrize("path", sorted(FORMS))
@pytest.mark.parametrize("with_token", [False, True])
async def test_head_with_a_form_body_changes_nothing(
    app: Quart, client: Client, auth: AuthActions, path: str, with_token: bool
) -> None:
    await auth.register("alice")
    token = await auth.csrf("/login")
    before = await users_and_sessions(app), await count_rows(app, AuthEvent)
    form = dict(FORMS[path])
    if with_token:
        form["csrf_token"] = token
    response = await client.open(path, method="HEAD", form=form)
    assert response.status_code == 200  # the page GET shows (the server drops its body)
    assert not any(header.startswith("auth=") for header in response.headers.getlist("Set-Cookie"))
    assert (await users_and_sessions(app), await count_rows(app, AuthEvent)) == before
    assert (await client.get("/dashboard")).status_code == 200  # still signed in
    await auth.logout()
    assert (await auth.login("alice", PASSWORD)).status_code == 303  # password unchanged


async def test_head_of_a_get_page_has_its_headers(client: Client) -> None:
    get, head = await client.get("/login"), await client.head("/login")
    assert head.status_code == get.status_code == 200
    assert head.headers["Content-Security-Policy"] == get.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/login", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("/register", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("/logout", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("/account/password", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("/account/sessions/1/revoke", {"POST", "OPTIONS"}),
        ("/account/sessions/revoke-others", {"POST", "OPTIONS"}),
        ("/dashboard", {"GET", "HEAD", "OPTIONS"}),
        ("/healthz", {"GET", "HEAD", "OPTIONS"}),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_an_unserved_method_is_405_with_allow(
    app: Quart, client: Client, auth: AuthActions, path: str, allowed: set[str], method: str
) -> None:
    await auth.register("alice")
    before = await users_and_sessions(app)
    response = await client.open(path, method=method, form={"password": PASSWORD})
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert "405" in await response.get_data(as_text=True)
    assert await users_and_sessions(app) == before


async def test_a_get_to_a_post_only_route_is_405(client: Client, auth: AuthActions) -> None:
    await auth.register("alice")
    response = await client.get("/account/sessions/1/revoke")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
