"""Passkeys through the routes with a software authenticator (quart_app.testing.webauthn):
adding one (the current password or a recent sign-in), signing in with it alone, using it as
the second factor, and every refusal: a replayed or cloned answer, another origin, no user
verification, a removed passkey, a malformed body."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select, update

from quart_app.core.clock import utcnow
from quart_app.events.models import AuthEvent
from quart_app.mfa.models import Passkey, WebAuthnChallenge
from quart_app.sessions.models import UserSession
from quart_app.state import get_database
from quart_app.testing.webauthn import SoftPasskey
from tests.support.auth import PASSWORD, AuthActions, Client, count_rows, csrf_from
from tests.support.mail import with_address
from tests.support.passkeys import ORIGIN, add, passkey_sign_in, with_csrf


async def kinds(app: Quart, user_id: int) -> list[str]:
    async with get_database(app).new_db() as db:
        query = select(AuthEvent.kind).where(AuthEvent.user_id == user_id).order_by(AuthEvent.id)
        return list((await db.scalars(query)).all())


@pytest.fixture
async def ann(make_user: Any) -> Any:
    return await make_user("ann")


async def test_a_passkey_is_added_after_a_recent_sign_in_and_ends_the_other_sessions(
    app: Quart, ann: Any, signed_in_client: Any, mail_outbox: Any
) -> None:
    await with_address(app, ann, "ann@example.org")
    browser, elsewhere = await signed_in_client(ann), await signed_in_client(ann)
    done = await add(browser, SoftPasskey(ORIGIN), "Work laptop")
    assert done.status_code == 200
    assert (await done.get_json())["redirect"] == "/account/passkeys"
    page = await (await browser.get("/account/passkeys")).get_data(as_text=True)
    assert "Work laptop" in page and "never used" in page
    assert (await elsewhere.get("/dashboard")).status_code == 302
    assert (await browser.get("/dashboard")).status_code == 200
    assert "passkey_added" in await kinds(app, ann.id)
    (notice,) = await mail_outbox.wait_for(1)
    assert notice["Subject"] == "A passkey was added to your account"
    assert await count_rows(app, WebAuthnChallenge) == 0  # the ceremony was used up


async def test_after_five_minutes_adding_needs_the_current_password(
    app: Quart, ann: Any, signed_in_client: Any
) -> None:
    browser = await signed_in_client(ann)
    async with get_database(app).new_db() as db:
        await db.execute(update(UserSession).values(created_at=utcnow() - timedelta(minutes=6)))
        await db.commit()
    without = await browser.post("/account/passkeys/options", json={"name": "x"})
    assert without.status_code == 403
    assert (await without.get_json())["error"] == "Enter your current password."
    wrong = await browser.post(
        "/account/passkeys/options", json={"name": "x", "current_password": "not it"}
    )
    assert wrong.status_code == 403
    assert (await add(browser, SoftPasskey(ORIGIN), current_password=PASSWORD)).status_code == 200


async def test_signing_in_with_a_passkey_needs_neither_password_nor_code(
    app: Quart, client: Client, ann: Any, signed_in_client: Any, totp_device: Any
) -> None:
    await totp_device(ann)  # two-factor on: a passkey with user verification is enough
    passkey = SoftPasskey(ORIGIN)
    assert (await add(await signed_in_client(ann), passkey)).status_code == 200
    done = await passkey_sign_in(client, passkey, next="/account/sessions")
    assert done.status_code == 200, await done.get_data(as_text=True)
    assert (await done.get_json())["redirect"] == "/account/sessions"
    assert (await client.get("/dashboard")).status_code == 200
    async with get_database(app).new_db() as db:
        stored = await db.scalar(select(Passkey))
    assert stored is not None and stored.sign_count == 1 and stored.last_used_at is not None
    assert (await kinds(app, ann.id))[-1] == "login_succeeded"


async def test_a_replayed_or_cloned_answer_is_refused(
    app: Quart, client: Client, ann: Any, signed_in_client: Any
) -> None:
    passkey = SoftPasskey(ORIGIN)
    await add(await signed_in_client(ann), passkey)
    headers = await with_csrf(client)
    body = await (await client.post("/login/passkey/options", json={}, headers=headers)).get_json()
    answer = {"ceremony": body["ceremony"], "credential": passkey.get(body["publicKey"])}
    assert (await client.post("/login/passkey", json=answer, headers=headers)).status_code == 200
    other = app.test_client()
    headers = await with_csrf(other)
    replay = await other.post("/login/passkey", json=answer, headers=headers)
    assert replay.status_code == 401  # the challenge was used up
    clone = SoftPasskey(ORIGIN, credential_id=passkey.credential_id, key=passkey.key)
    clone.user_handle = passkey.user_handle  # a copy whose count starts again from 0
    refused = await passkey_sign_in(other, clone)
    assert refused.status_code == 401
    assert (await other.get("/dashboard")).status_code == 302


async def test_another_origin_or_no_user_verification_is_refused(
    client: Client, ann: Any, signed_in_client: Any
) -> None:
    passkey = SoftPasskey(ORIGIN)
    await add(await signed_in_client(ann), passkey)
    phished = SoftPasskey(
        "https://login.example.com",
        credential_id=passkey.credential_id,
        key=passkey.key,
        sign_count=5,
        user_handle=passkey.user_handle,
    )
    assert (await passkey_sign_in(client, phished)).status_code == 401
    passkey.user_verified = False
    assert (await passkey_sign_in(client, passkey)).status_code == 401
    assert (await client.get("/dashboard")).status_code == 302


async def test_a_removed_passkey_signs_nobody_in(
    app: Quart, client: Client, ann: Any, signed_in_client: Any
) -> None:
    browser = await signed_in_client(ann)
    passkey = SoftPasskey(ORIGIN)
    await add(browser, passkey)
    (passkey_id,) = [p.id for p in await _passkeys(app)]
    page = await browser.get("/account/passkeys")
    token = csrf_from(await page.get_data(as_text=True))
    removed = await browser.post(
        f"/account/passkeys/{passkey_id}/remove", form={"csrf_token": token}
    )
    assert (removed.status_code, removed.headers["Location"]) == (303, "/account/passkeys")
    assert await count_rows(app, Passkey) == 0
    assert "passkey_removed" in await kinds(app, ann.id)
    refused = await passkey_sign_in(client, passkey)
    assert refused.status_code == 401
    assert "not registered" in (await refused.get_json())["error"]


async def test_removing_after_five_minutes_needs_the_password(
    app: Quart, ann: Any, signed_in_client: Any
) -> None:
    browser = await signed_in_client(ann)
    await add(browser, SoftPasskey(ORIGIN))
    (passkey_id,) = [p.id for p in await _passkeys(app)]
    async with get_database(app).new_db() as db:
        await db.execute(update(UserSession).values(created_at=utcnow() - timedelta(minutes=6)))
        await db.commit()
    refused = await browser.post(f"/account/passkeys/{passkey_id}/remove", form={})
    assert refused.status_code == 400
    assert "Enter your current password." in await refused.get_data(as_text=True)
    assert await count_rows(app, Passkey) == 1
    form = {"current_password": PASSWORD}
    assert (
        await browser.post(f"/account/passkeys/{passkey_id}/remove", form=form)
    ).status_code == 303


async def test_another_accounts_passkey_id_is_not_removed(
    app: Quart, ann: Any, make_user: Any, signed_in_client: Any
) -> None:
    await add(await signed_in_client(ann), SoftPasskey(ORIGIN))
    (passkey_id,) = [p.id for p in await _passkeys(app)]
    bob = await signed_in_client(await make_user("bob"))
    answer = await bob.post(f"/account/passkeys/{passkey_id}/remove", form={})
    assert answer.status_code == 303
    assert await count_rows(app, Passkey) == 1


async def test_a_passkey_serves_as_the_second_factor(
    app: Quart,
    client: Client,
    auth: AuthActions,
    ann: Any,
    make_user: Any,
    signed_in_client: Any,
    totp_device: Any,
) -> None:
    await totp_device(ann)
    passkey = SoftPasskey(ORIGIN)
    await add(await signed_in_client(ann), passkey)
    bob = await make_user("bob")
    bobs = SoftPasskey(ORIGIN)
    await add(await signed_in_client(bob), bobs)

    await auth.login("ann", PASSWORD, remember=True, next_path="/account/activity")
    step = await (await client.get("/login/two-factor")).get_data(as_text=True)
    assert "Use a passkey" in step and "passkeys.js" in step
    assert (await passkey_sign_in(client, bobs, "/login/two-factor/passkey")).status_code == 401
    passkey.user_verified = False  # presence is enough for a second factor
    done = await passkey_sign_in(client, passkey, "/login/two-factor/passkey")
    assert done.status_code == 200, await done.get_data(as_text=True)
    assert (await done.get_json())["redirect"] == "/account/activity"
    async with get_database(app).new_db() as db:
        query = select(UserSession).where(UserSession.user_id == ann.id).order_by(UserSession.id)
        newest = (await db.scalars(query)).all()[-1]
    assert newest.remember is True  # the choice made on the password step


async def test_without_a_pending_sign_in_the_passkey_step_is_refused(
    client: Client, ann: Any, signed_in_client: Any
) -> None:
    headers = await with_csrf(client)
    answer = await client.post("/login/two-factor/passkey/options", json={}, headers=headers)
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "body",
    [None, [], {"ceremony": "x"}, {"ceremony": "x", "credential": "text"},
     {"ceremony": 5, "credential": {}}, {"ceremony": "x", "credential": {"id": 5}}],
)  # fmt: skip
async def test_a_malformed_answer_is_a_4xx_json_error(client: Client, body: object) -> None:
    headers = await with_csrf(client)
    answer = await client.post("/login/passkey", json=body, headers=headers)
    assert answer.status_code in (400, 401)
    assert "error" in await answer.get_json()


async def test_the_ceremonies_need_the_csrf_token(client: Client) -> None:
    assert (await client.post("/login/passkey/options", json={})).status_code == 400


async def test_the_login_page_offers_a_passkey_only_through_its_script(client: Client) -> None:
    page = await (await client.get("/login")).get_data(as_text=True)
    assert '<script src="/static/passkeys.js" defer></script>' in page
    assert 'data-passkey="sign-in" hidden' in page  # shown by the script, where WebAuthn is


async def _passkeys(app: Quart) -> list[Passkey]:
    async with get_database(app).new_db() as db:
        return list((await db.scalars(select(Passkey))).all())
