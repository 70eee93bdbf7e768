"""Password reset by a mailed link (a real SMTP server in the test's loop): the same answer for
every login, one use per link, every session ended, no automatic sign-in."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select, update

from quart_app.accounts.models import User
from quart_app.core.clock import utcnow
from quart_app.events.models import AuthEvent
from quart_app.recovery.models import AccountToken
from quart_app.sessions.models import UserSession
from quart_app.state import get_database, get_settings
from tests.support.auth import PASSWORD, AuthActions, Client, count_rows, csrf_from
from tests.support.mail import text_of, with_address

PUBLIC_URL = "https://auth.example.org"
LINK = re.compile(r"https?://[^\s\"<>]+/reset-password/[A-Za-z0-9_-]+")
NEW_PASSWORD = "a brand new passphrase"
CSRF_FIELD = re.compile(r'name="csrf_token" value="[^"]*"')


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "PUBLIC_URL": PUBLIC_URL, "THROTTLE_PAIR_LIMIT": 2}


def reset_path(message: EmailMessage) -> str:
    (link,) = LINK.findall(text_of(message))
    assert link.startswith(PUBLIC_URL + "/reset-password/")
    return link.removeprefix(PUBLIC_URL)


async def forgot(client: Client, auth: AuthActions, login: str, **kwargs: Any) -> Any:
    token = await auth.csrf("/forgot-password")
    return await client.post(
        "/forgot-password", form={"login": login, "csrf_token": token}, **kwargs
    )


async def set_password(client: Client, path: str, password: str) -> Any:
    page = await client.get(path)
    assert page.status_code == 200, await page.get_data(as_text=True)
    form = {"new_password": password, "csrf_token": csrf_from(await page.get_data(as_text=True))}
    return await client.post(path, form=form)


async def no_more_mail(mail_outbox: Any, count: int) -> None:
    """Give the background request and the sender time, then check nothing else came."""
    await asyncio.sleep(0.5)
    assert len(mail_outbox.messages) == count, [m["Subject"] for m in mail_outbox.messages]


async def test_the_whole_reset_journey(
    app: Quart,
    client: Client,
    auth: AuthActions,
    make_user: Any,
    signed_in_client: Any,
    api_client: Any,
    mail_outbox: Any,
) -> None:
    ann = await make_user("ann")
    await with_address(app, ann, "ann@example.org")
    old_browser = await signed_in_client(ann)
    old_script = await api_client(ann)
    assert (await old_browser.get("/dashboard")).status_code == 200

    sent = await forgot(client, auth, "ANN@example.org")  # by address, any case
    assert sent.status_code == 200
    assert "Check your inbox" in await sent.get_data(as_text=True)
    (message,) = await mail_outbox.wait_for(1)
    assert message["To"] == "ann@example.org"
    assert message["Subject"] == "Reset your password"
    path = reset_path(message)

    page = await client.get(path)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page.headers["Cache-Control"]
    html = await page.get_data(as_text=True)
    assert 'autocomplete="username" value="ann" hidden' in html  # for password managers
    assert (await client.get(path)).status_code == 200  # a GET does not use the link up

    weak = await client.post(path, form={"new_password": "short", "csrf_token": csrf_from(html)})
    assert weak.status_code == 400
    assert await count_rows(app, AccountToken) == 1  # a refused password keeps the link

    done = await set_password(client, path, NEW_PASSWORD)
    assert (done.status_code, done.headers["Location"]) == (303, "/login")
    assert await count_rows(app, UserSession) == 0  # the browser and the token: every one
    assert (await old_browser.get("/dashboard")).status_code == 302
    assert (await old_script.get("/api/v1/me")).status_code == 401
    assert (await client.get("/dashboard")).status_code == 302  # no automatic sign-in
    assert (await auth.login("ann", PASSWORD)).status_code == 401
    assert (await auth.login("ann", NEW_PASSWORD)).status_code == 303

    again = await client.get(path)  # used up
    assert again.status_code == 400
    assert "Ask for a new link" in await again.get_data(as_text=True)

    messages = await mail_outbox.wait_for(2)
    assert messages[1]["Subject"] == "Your password was reset"
    assert f"{PUBLIC_URL}/forgot-password" in text_of(messages[1])
    async with get_database(app).new_db() as db:
        kinds = (await db.scalars(select(AuthEvent.kind).where(AuthEvent.user_id == ann.id))).all()
    assert "password_reset" in kinds


async def test_every_login_gets_the_same_answer(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, mail_outbox: Any
) -> None:
    await make_user("bob")  # an account without an address
    await with_address(app, await make_user("ann"), "ann@example.org")
    answers = []
    for login in ("ann", "bob", "nobody", "ann@example.org", "nobody@example.org", "x" * 400):
        response = await forgot(client, auth, login)
        body = CSRF_FIELD.sub("", await response.get_data(as_text=True))
        answers.append((response.status_code, body))
    assert len(set(answers)) == 1
    assert answers[0][0] == 200
    messages = await mail_outbox.wait_for(2)  # ann, by name and by address; nobody else
    assert {m["To"] for m in messages} == {"ann@example.org"}
    await no_more_mail(mail_outbox, 2)


async def test_links_use_public_url_whatever_host_the_request_names(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, mail_outbox: Any
) -> None:
    await with_address(app, await make_user("ann"), "ann@example.org")
    headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    await forgot(client, auth, "ann", headers=headers)
    (message,) = await mail_outbox.wait_for(1)
    assert "evil.example" not in message.as_string()
    reset_path(message)


async def test_requests_past_the_account_limit_send_nothing_and_look_the_same(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, mail_outbox: Any
) -> None:
    limit = get_settings(app).RESET_REQUESTS_PER_ACCOUNT
    await with_address(app, await make_user("ann"), "ann@example.org")
    statuses = [(await forgot(client, auth, "ann")).status_code for _ in range(limit + 2)]
    assert set(statuses) == {200}
    await mail_outbox.wait_for(limit)
    await no_more_mail(mail_outbox, limit)


async def test_only_the_newest_link_works_and_a_password_change_kills_it(
    app: Quart,
    client: Client,
    auth: AuthActions,
    make_user: Any,
    signed_in_client: Any,
    mail_outbox: Any,
) -> None:
    ann = await make_user("ann")
    await with_address(app, ann, "ann@example.org")
    await forgot(client, auth, "ann")
    (first,) = await mail_outbox.wait_for(1)
    await forgot(client, auth, "ann")
    _, second = await mail_outbox.wait_for(2)
    assert (await client.get(reset_path(first))).status_code == 400
    assert (await client.get(reset_path(second))).status_code == 200

    browser = await signed_in_client(ann)
    form = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (await browser.post("/account/password", form=form)).status_code == 303
    assert (await client.get(reset_path(second))).status_code == 400
    notices = await mail_outbox.wait_for(3)
    assert notices[2]["Subject"] == "Your password was changed"


async def test_an_expired_link_is_refused(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, mail_outbox: Any
) -> None:
    await with_address(app, await make_user("ann"), "ann@example.org")
    await forgot(client, auth, "ann")
    (message,) = await mail_outbox.wait_for(1)
    async with get_database(app).new_db() as db:
        await db.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        await db.commit()
    response = await client.get(reset_path(message))
    assert response.status_code == 400
    assert "Ask for a new link" in await response.get_data(as_text=True)


async def test_two_posts_at_once_set_one_password(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, mail_outbox: Any
) -> None:
    await with_address(app, await make_user("ann"), "ann@example.org")
    await forgot(client, auth, "ann")
    (message,) = await mail_outbox.wait_for(1)
    path = reset_path(message)
    token = csrf_from(await (await client.get(path)).get_data(as_text=True))
    passwords = ["first new passphrase", "second new passphrase"]
    responses = await asyncio.gather(
        *(client.post(path, form={"new_password": p, "csrf_token": token}) for p in passwords)
    )
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [303, 400]
    winner = passwords[statuses.index(303)]
    loser = passwords[statuses.index(400)]
    assert (await auth.login("ann", loser)).status_code == 401
    assert (await auth.login("ann", winner)).status_code == 303


async def test_a_reset_clears_the_accounts_failed_login_block(
    app: Quart, client: Client, auth: AuthActions, make_user: Any, mail_outbox: Any
) -> None:
    await with_address(app, await make_user("ann"), "ann@example.org")
    for _ in range(2):
        assert (await auth.login("ann", "wrong password")).status_code == 401
    assert (await auth.login("ann", PASSWORD)).status_code == 429  # blocked
    await forgot(client, auth, "ann")
    (message,) = await mail_outbox.wait_for(1)
    assert (await set_password(client, reset_path(message), NEW_PASSWORD)).status_code == 303
    assert (await auth.login("ann", NEW_PASSWORD)).status_code == 303


async def test_a_deleted_account_gets_a_notice_that_outlives_it(
    app: Quart, make_user: Any, signed_in_client: Any, mail_outbox: Any
) -> None:
    ann = await make_user("ann")
    await with_address(app, ann, "ann@example.org")
    browser = await signed_in_client(ann)
    assert (await browser.post("/account/delete", form={"password": PASSWORD})).status_code == 303
    (notice,) = await mail_outbox.wait_for(1)
    assert notice["Subject"] == "Your account was deleted"
    assert await count_rows(app, User) == 0


# --- the JSON API -----------------------------------------------------------------------------


async def test_the_api_resets_with_the_same_guarantees(
    app: Quart, client: Client, make_user: Any, api_client: Any, mail_outbox: Any
) -> None:
    ann = await make_user("ann")
    await with_address(app, ann, "ann@example.org")
    old_script = await api_client(ann)
    answers = []
    for login in ("ann", "nobody", "nobody@example.org"):
        response = await client.post("/api/v1/password-reset", json={"login": login})
        answers.append((response.status_code, await response.get_json()))
    assert answers[0][0] == 202
    assert all(answer == answers[0] for answer in answers)
    (message,) = await mail_outbox.wait_for(1)
    token = reset_path(message).rsplit("/", 1)[1]

    weak = await client.post(
        "/api/v1/password-reset/confirm", json={"token": token, "new_password": "short"}
    )
    assert weak.status_code == 422
    assert (await weak.get_json())["errors"][0]["field"] == "new_password"
    body = {"token": token, "new_password": NEW_PASSWORD}
    done = await client.post("/api/v1/password-reset/confirm", json=body)
    assert done.status_code == 204
    assert (await old_script.get("/api/v1/me")).status_code == 401
    reused = await client.post("/api/v1/password-reset/confirm", json=body)
    assert reused.status_code == 422
    assert (await reused.get_json())["errors"][0]["field"] == "token"
    token_request = {"username": "ann", "password": NEW_PASSWORD}
    assert (await client.post("/api/v1/tokens", json=token_request)).status_code == 201


async def test_the_api_refuses_a_malformed_reset_body_with_400(client: Client) -> None:
    for body in ({}, {"login": 5}, {"login": "x" * 321}):
        response = await client.post("/api/v1/password-reset", json=body)
        assert response.status_code == 400, body
    bad = await client.post("/api/v1/password-reset/confirm", json={"token": "x"})
    assert bad.status_code == 400
    unknown = await client.post(
        "/api/v1/password-reset/confirm", json={"token": "x" * 43, "new_password": NEW_PASSWORD}
    )
    assert unknown.status_code == 422
