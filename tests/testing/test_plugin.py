"""The test kit's fixtures do what quart_app.testing promises, including refusing what it should."""

from __future__ import annotations

import pytest
from quart import Quart
from quart.testing import QuartClient

from quart_app import create_app
from quart_app.config import ConfigError
from quart_app.sessions.models import UserSession
from quart_app.testing.plugin import MakeUser, ReadToken, SignIn
from tests.support.auth import AuthActions, count_rows

NEW_PASSWORD = "a different and longer passphrase"


async def test_app_hashes_at_the_fast_test_profile(make_user: MakeUser) -> None:
    user = await make_user("alice")
    assert user.password_hash.startswith("$argon2id$v=19$m=8,t=1,p=1$")


async def test_the_fast_profile_refuses_to_start_outside_testing(app_config: dict) -> None:
    with pytest.raises(ConfigError, match="HASH_PROFILE=fast-tests is for test suites only"):
        create_app({**app_config, "TESTING": False})


async def test_make_user_hashes_each_password_once(make_user: MakeUser) -> None:
    alice = await make_user("alice", password="one long enough passphrase")
    bob = await make_user("bob", password="one long enough passphrase")
    carol = await make_user("carol", password="another long enough passphrase")
    assert alice.password_hash == bob.password_hash != carol.password_hash
    assert (alice.id, bob.id, carol.id) == (1, 2, 3)


async def test_a_made_user_signs_in_through_the_form(
    make_user: MakeUser, auth: AuthActions
) -> None:
    await make_user("Alice", password="one long enough passphrase")
    assert (await auth.login("alice", "one long enough passphrase")).status_code == 303
    await auth.logout()
    assert (await auth.login("alice", "not the passphrase at all")).status_code == 401


async def test_signed_in_client_reaches_the_dashboard_and_its_forms_pass_csrf(
    make_user: MakeUser, signed_in_client: SignIn, client: QuartClient
) -> None:
    alice = await make_user("alice")
    signed_in = await signed_in_client(alice)
    dashboard = await signed_in.get("/dashboard")
    assert dashboard.status_code == 200
    assert "alice" in await dashboard.get_data(as_text=True)
    assert (await client.get("/dashboard")).status_code == 302  # the plain client is not

    form = {"current_password": "correct horse battery staple", "new_password": NEW_PASSWORD}
    changed = await signed_in.post("/account/password", form=form)
    assert changed.status_code == 303
    assert (await signed_in.post("/logout", form={})).status_code == 303
    assert (await signed_in.get("/dashboard")).status_code == 302


async def test_signed_in_client_sends_the_token_a_test_names_instead(
    make_user: MakeUser, signed_in_client: SignIn
) -> None:
    signed_in = await signed_in_client(await make_user("alice"))
    refused = await signed_in.post("/logout", form={"csrf_token": "not-the-token"})
    assert refused.status_code == 400
    assert (await signed_in.get("/dashboard")).status_code == 200  # still signed in


async def test_signed_in_client_names_the_browser_and_address_it_is_given(
    make_user: MakeUser, signed_in_client: SignIn
) -> None:
    chrome = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    signed_in = await signed_in_client(await make_user("alice"), user_agent=chrome, ip="192.0.2.8")
    page = await (await signed_in.get("/account/sessions")).get_data(as_text=True)
    assert "Chrome on Linux" in page and "192.0.2.8 · active now" in page


async def test_each_signed_in_client_is_a_session_of_its_own(
    app: Quart, make_user: MakeUser, signed_in_client: SignIn
) -> None:
    alice = await make_user("alice")
    first, second = await signed_in_client(alice), await signed_in_client(alice, remember=True)
    assert await count_rows(app, UserSession) == 2
    assert (await first.post("/logout", form={})).status_code == 303
    assert (await first.get("/dashboard")).status_code == 302
    dashboard = await second.get("/dashboard")
    assert "Remembered on this device" in await dashboard.get_data(as_text=True)


async def test_csrf_token_reads_the_token_of_a_page(
    client: QuartClient, make_user: MakeUser, csrf_token: ReadToken
) -> None:
    await make_user("alice")
    token = await csrf_token(client, "/login")
    form = {"username": "alice", "password": "correct horse battery staple", "csrf_token": token}
    assert (await client.post("/login", form=form)).status_code == 303
    with pytest.raises(AssertionError, match="without a csrf_token field"):
        await csrf_token(client, "/healthz")
