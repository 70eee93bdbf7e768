"""Signing in to an account with two-factor on: the password step makes no session, the code
step does once, wrong codes count per pending sign-in and per account, and a recovery code
works once and ends the other sessions."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from cryptography.fernet import Fernet
from quart import Quart
from sqlalchemy import select, update

from quart_app.authn.models import PendingSignIn
from quart_app.core.clock import utcnow
from quart_app.events.models import AuthEvent
from quart_app.mfa.encryption import SecretBox
from quart_app.mfa.models import RecoveryCode, TotpCredential
from quart_app.sessions.models import UserSession
from quart_app.state import get_database
from quart_app.testing.totp import TotpDevice
from tests.support.auth import PASSWORD, AuthActions, Client, count_rows, csrf_from
from tests.support.mail import text_of, with_address

STEP = "/login/two-factor"


async def events_of(app: Quart, user_id: int) -> list[str]:
    async with get_database(app).new_db() as db:
        query = select(AuthEvent.kind).where(AuthEvent.user_id == user_id).order_by(AuthEvent.id)
        return list((await db.scalars(query)).all())


async def send_code(client: Client, code: str) -> Any:
    page = await client.get(STEP)
    assert page.status_code == 200, page.status_code
    token = csrf_from(await page.get_data(as_text=True))
    return await client.post(STEP, form={"code": code, "csrf_token": token})


@pytest.fixture
async def ann(make_user: Any, totp_device: Any) -> tuple[Any, TotpDevice]:
    user = await make_user("ann")
    return user, await totp_device(user)


async def test_the_password_alone_makes_no_session_and_the_code_does(
    app: Quart, client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice]
) -> None:
    user, device = ann
    response = await auth.login("ann", PASSWORD, remember=True, next_path="/account/sessions")
    assert (response.status_code, response.headers["Location"]) == (303, STEP)
    assert await count_rows(app, UserSession) == 0
    assert (await client.get("/dashboard")).status_code == 302  # not signed in yet
    assert await count_rows(app, PendingSignIn) == 1

    done = await send_code(client, await device.fresh_code())
    assert (done.status_code, done.headers["Location"]) == (303, "/account/sessions")
    assert (await client.get("/dashboard")).status_code == 200
    async with get_database(app).new_db() as db:
        (row,) = (await db.scalars(select(UserSession))).all()
    assert row.remember is True  # the choice made on the password step, kept server-side
    assert await count_rows(app, PendingSignIn) == 0
    assert await events_of(app, user.id) == ["login_succeeded"]
    assert (await client.get(STEP)).headers["Location"] == "/login"  # used up


async def test_a_wrong_password_never_reaches_the_code_step(
    app: Quart, client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice]
) -> None:
    assert (await auth.login("ann", "not the password")).status_code == 401
    assert await count_rows(app, PendingSignIn) == 0
    response = await client.get(STEP)
    assert (response.status_code, response.headers["Location"]) == (303, "/login")


async def test_a_code_works_once(
    app: Quart, client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice], make_user: Any
) -> None:
    _user, device = ann
    code = await device.fresh_code()
    await auth.login("ann", PASSWORD)
    assert (await send_code(client, code)).status_code == 303
    await auth.logout()
    await auth.login("ann", PASSWORD)
    replayed = await send_code(client, code)
    assert replayed.status_code == 401
    assert "That code is not right. 4 attempts left." in await replayed.get_data(as_text=True)
    assert (await send_code(client, await device.fresh_code())).status_code == 303


async def test_two_requests_with_one_code_sign_in_once(
    app: Quart, ann: tuple[Any, TotpDevice]
) -> None:
    _, device = ann
    clients = [app.test_client() for _ in range(2)]
    for client in clients:
        assert (await AuthActions(client).login("ann", PASSWORD)).status_code == 303
    code = await device.fresh_code()
    tokens = [csrf_from(await (await c.get(STEP)).get_data(as_text=True)) for c in clients]
    answers = await asyncio.gather(
        *(
            c.post(STEP, form={"code": code, "csrf_token": t})
            for c, t in zip(clients, tokens, strict=True)
        )
    )
    assert sorted(a.status_code for a in answers) == [303, 401]
    assert await count_rows(app, UserSession) == 1


async def test_five_wrong_codes_end_the_pending_sign_in(
    app: Quart, client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice], mail_outbox: Any
) -> None:
    user, _device = ann
    await with_address(app, user, "ann@example.org")
    await auth.login("ann", PASSWORD)
    for left in (4, 3, 2, 1):
        wrong = await send_code(client, "000000")
        assert wrong.status_code == 401
        assert f"{left} attempt" in await wrong.get_data(as_text=True)
    last = await send_code(client, "000000")
    assert (last.status_code, last.headers["Location"]) == (303, "/login")
    assert await count_rows(app, PendingSignIn) == 0
    assert (await client.get(STEP)).headers["Location"] == "/login"
    assert (await client.get("/dashboard")).status_code == 302
    assert await events_of(app, user.id) == ["second_factor_failed"] * 5
    (notice,) = await mail_outbox.wait_for(1)  # one notice per pending sign-in, not per guess
    assert notice["Subject"] == "A sign-in passed your password but not your second factor"
    await asyncio.sleep(0.3)
    assert len(mail_outbox.messages) == 1


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "SECOND_FACTOR_LIMIT": 7}


async def test_wrong_codes_count_per_account_across_pending_sign_ins(
    app: Quart, client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice]
) -> None:
    _, device = ann
    await auth.login("ann", PASSWORD)
    for _ in range(4):
        assert (await send_code(client, "000000")).status_code == 401
    await auth.login("ann", PASSWORD)  # a new password step buys no new guesses
    for _ in range(3):
        assert (await send_code(client, "111111")).status_code == 401
    throttled = await send_code(client, await device.fresh_code())  # even the right code
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
    assert "Too many wrong codes" in await throttled.get_data(as_text=True)
    assert await count_rows(app, UserSession) == 0


async def test_a_pending_sign_in_expires_after_five_minutes(
    app: Quart, client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice]
) -> None:
    _, _device = ann
    await auth.login("ann", PASSWORD)
    async with get_database(app).new_db() as db:
        await db.execute(update(PendingSignIn).values(expires_at=utcnow()))
        await db.commit()
    response = await client.get(STEP)
    assert (response.status_code, response.headers["Location"]) == (303, "/login")
    assert await count_rows(app, UserSession) == 0


async def test_a_recovery_code_signs_in_once_and_ends_the_other_sessions(
    app: Quart,
    client: Client,
    auth: AuthActions,
    ann: tuple[Any, TotpDevice],
    signed_in_client: Any,
    mail_outbox: Any,
) -> None:
    user, device = ann
    await with_address(app, user, "ann@example.org")
    elsewhere = await signed_in_client(user)
    code = device.recovery_codes[3]
    await auth.login("ann", PASSWORD)
    done = await send_code(client, code.lower().replace("-", " "))  # as typed, any form
    assert done.status_code == 303
    assert (await client.get("/dashboard")).status_code == 200
    assert (await elsewhere.get("/dashboard")).status_code == 302
    assert await count_rows(app, RecoveryCode) == 9
    assert await events_of(app, user.id) == ["recovery_code_used", "login_succeeded"]
    mails = await mail_outbox.wait_for(2)  # and the new-browser notice of the sign-in
    (notice,) = (m for m in mails if m["Subject"] == "A recovery code was used to sign in")
    assert "9 unused codes left" in notice.get_body(preferencelist=("plain",)).get_content()

    await auth.logout()
    await auth.login("ann", PASSWORD)
    assert (await send_code(client, code)).status_code == 401  # used up


async def test_the_code_field_is_required_and_bounded(
    client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice]
) -> None:
    await auth.login("ann", PASSWORD)
    empty = await send_code(client, "   ")
    assert empty.status_code == 400
    assert "Enter the 6-digit code" in await empty.get_data(as_text=True)
    assert (await send_code(client, "1" * 65)).status_code == 400
    assert (await client.get(STEP)).status_code == 200  # nothing counted: still pending


async def test_the_code_step_needs_the_csrf_token(
    client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice]
) -> None:
    _, device = ann
    await auth.login("ann", PASSWORD)
    response = await client.post(STEP, form={"code": await device.fresh_code()})
    assert response.status_code == 400
    assert (await client.get("/dashboard")).status_code == 302


async def test_without_two_factor_the_password_signs_in_at_once(
    client: Client, auth: AuthActions, make_user: Any
) -> None:
    await make_user("bob")
    response = await auth.login("bob", PASSWORD)
    assert (response.status_code, response.headers["Location"]) == (303, "/")


async def test_a_password_reset_by_mail_keeps_the_second_factor(
    app: Quart, client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice], mail_outbox: Any
) -> None:
    user, device = ann
    await with_address(app, user, "ann@example.org")
    token = await auth.csrf("/forgot-password")
    await client.post("/forgot-password", form={"login": "ann", "csrf_token": token})
    (message,) = await mail_outbox.wait_for(1)
    (path,) = re.findall(r"/reset-password/[\w-]+", text_of(message))
    page = await client.get(path)
    form = {
        "new_password": "a new pass phrase here",
        "csrf_token": csrf_from(await page.get_data(as_text=True)),
    }
    assert (await client.post(path, form=form)).status_code == 303
    signed_in = await auth.login("ann", "a new pass phrase here")
    assert signed_in.headers["Location"] == STEP  # still asked for the code
    assert await count_rows(app, UserSession) == 0
    assert (await send_code(client, await device.fresh_code())).status_code == 303


async def test_a_next_target_longer_than_any_page_goes_to_the_default(
    app: Quart, client: Client, auth: AuthActions, ann: tuple[Any, TotpDevice]
) -> None:
    _, device = ann
    step = await auth.login("ann", PASSWORD, next_path="/" + "a" * 3000)
    assert (step.status_code, step.headers["Location"]) == (303, STEP)
    done = await send_code(client, await device.fresh_code())
    assert (done.status_code, done.headers["Location"]) == (303, "/")


async def test_a_secret_no_key_opens_fails_like_a_wrong_code_and_recovery_codes_still_work(
    app: Quart,
    client: Client,
    auth: AuthActions,
    ann: tuple[Any, TotpDevice],
    caplog: pytest.LogCaptureFixture,
) -> None:
    user, device = ann
    lost_key = SecretBox([Fernet.generate_key().decode()])  # a key the app does not hold
    async with get_database(app).new_db() as db:
        await db.execute(
            update(TotpCredential)
            .where(TotpCredential.user_id == user.id)
            .values(secret=lost_key.seal(device.secret))
        )
        await db.commit()
    await auth.login("ann", PASSWORD)
    refused = await send_code(client, await device.fresh_code())
    assert refused.status_code == 401
    assert "opens with none of the keys" in caplog.text and device.secret not in caplog.text
    assert (await send_code(client, device.recovery_codes[0])).status_code == 303
