"""Addresses: offered, mailed a link (through a real SMTP server in the test's loop), attached
only when the link's button is pressed; nobody learns who holds an address."""

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
from quart_app.state import get_database
from quart_app.testing.plugin import SignedInClient
from tests.support.auth import PASSWORD, AuthActions, Client, count_rows, csrf_from
from tests.support.mail import text_of

PUBLIC_URL = "https://auth.example.org"
LINK = re.compile(r"https?://[^\s\"<>]+/confirm-email/[A-Za-z0-9_-]+")


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "PUBLIC_URL": PUBLIC_URL}


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage) -> str:
    found = LINK.findall(text_of(message))
    assert len(found) == 1, text_of(message)
    assert found[0] in html_of(message)
    return found[0]


def local_path(link: str) -> str:
    assert link.startswith(PUBLIC_URL + "/confirm-email/")
    return link.removeprefix(PUBLIC_URL)


async def user_row(app: Quart, username: str) -> User:
    async with get_database(app).new_db() as db:
        user = await db.scalar(select(User).where(User.username == username))
    assert user is not None
    return user


async def press_confirm(client: Client, path: str) -> Any:
    page = await client.get(path)
    assert page.status_code == 200
    return await client.post(
        path, form={"csrf_token": csrf_from(await page.get_data(as_text=True))}
    )


async def register(client: Client, auth: AuthActions, username: str, email: str) -> Any:
    token = await auth.csrf("/register")
    form = {"username": username, "password": PASSWORD, "email": email, "csrf_token": token}
    return await client.post("/register", form=form)


async def test_registering_with_an_address_mails_a_link_that_confirms_it_on_post_only(
    app: Quart, client: Client, auth: AuthActions, mail_outbox: Any
) -> None:
    response = await register(client, auth, "ann", " Ann@Example.ORG ")
    assert response.status_code == 303
    (message,) = await mail_outbox.wait_for(1)
    assert message["To"] == "Ann@example.org"
    assert message["Subject"] == "Confirm your e-mail address"
    path = local_path(link_in(message))
    assert (await user_row(app, "ann")).email is None  # not before the link is used

    page = await client.get(path)  # what a mail scanner does: changes nothing
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page.headers["Cache-Control"]
    html = await page.get_data(as_text=True)
    assert "Confirm Ann@example.org" in html
    assert (await user_row(app, "ann")).email is None
    assert await count_rows(app, AccountToken) == 1

    confirmed = await client.post(path, form={"csrf_token": csrf_from(html)})
    assert confirmed.status_code == 303
    user = await user_row(app, "ann")
    assert (user.email, user.email_key) == ("Ann@example.org", "ann@example.org")
    assert await count_rows(app, AccountToken) == 0
    again = await client.post(path, form={"csrf_token": csrf_from(html)})
    assert again.status_code == 400  # used up
    assert "does not work" in await again.get_data(as_text=True)
    async with get_database(app).new_db() as db:
        kinds = (await db.scalars(select(AuthEvent.kind).where(AuthEvent.user_id == user.id))).all()
    assert "email_changed" in kinds


async def test_the_confirm_post_needs_the_csrf_token(
    app: Quart, client: Client, auth: AuthActions, mail_outbox: Any
) -> None:
    await register(client, auth, "ann", "ann@example.org")
    (message,) = await mail_outbox.wait_for(1)
    response = await client.post(local_path(link_in(message)), form={})
    assert response.status_code == 400
    assert (await user_row(app, "ann")).email is None


async def test_a_bad_or_overlong_token_gets_the_400_page(client: Client) -> None:
    for token in ("nope", "x" * 43, "x" * 100):
        response = await client.get(f"/confirm-email/{token}")
        assert response.status_code == 400
        assert "does not work" in await response.get_data(as_text=True)
    assert (await client.get(f"/confirm-email/{'x' * 101}")).status_code == 404


async def test_an_expired_link_does_not_confirm(
    app: Quart, client: Client, auth: AuthActions, mail_outbox: Any
) -> None:
    await register(client, auth, "ann", "ann@example.org")
    (message,) = await mail_outbox.wait_for(1)
    async with get_database(app).new_db() as db:
        await db.execute(update(AccountToken).values(expires_at=AccountToken.created_at))
        await db.commit()
    assert (await client.get(local_path(link_in(message)))).status_code == 400
    assert (await user_row(app, "ann")).email is None


async def test_an_address_change_needs_the_password_and_keeps_the_old_address_until_confirmed(
    app: Quart, make_user: Any, signed_in_client: Any, mail_outbox: Any
) -> None:
    ann = await make_user("ann")
    client: SignedInClient = await signed_in_client(ann)
    wrong = await client.post(
        "/account/email", form={"email": "ann@example.org", "current_password": "wrong one"}
    )
    assert wrong.status_code == 400
    assert "not your current password" in await wrong.get_data(as_text=True)
    invalid = await client.post(
        "/account/email", form={"email": "ann@", "current_password": PASSWORD}
    )
    assert invalid.status_code == 400
    assert await count_rows(app, AccountToken) == 0

    sent = {"email": "ann@example.org", "current_password": PASSWORD}
    assert (await client.post("/account/email", form=sent)).status_code == 303
    (first,) = await mail_outbox.wait_for(1)
    assert (await press_confirm(client, local_path(link_in(first)))).status_code == 303
    mail_outbox.clear()

    sent = {"email": "ann@new.example", "current_password": PASSWORD}
    assert (await client.post("/account/email", form=sent)).status_code == 303
    (second,) = await mail_outbox.wait_for(1)
    assert second["To"] == "ann@new.example"
    page = await (await client.get("/account/email")).get_data(as_text=True)
    assert "ann@example.org" in page and "ann@new.example" in page  # confirmed; waiting
    assert (await user_row(app, "ann")).email == "ann@example.org"

    assert (await press_confirm(client, local_path(link_in(second)))).status_code == 303
    assert (await user_row(app, "ann")).email == "ann@new.example"
    await mail_outbox.wait_for(2)  # the new address's link, then the old address's notice
    notices = [m for m in mail_outbox.messages if m["To"] == "ann@example.org"]
    assert len(notices) == 1
    assert "ann@new.example" in text_of(notices[0])
    assert f"{PUBLIC_URL}/account/sessions" in text_of(notices[0])


async def test_an_address_held_by_another_account_looks_the_same_and_warns_its_owner(
    app: Quart, make_user: Any, signed_in_client: Any, mail_outbox: Any
) -> None:
    owner, asker = await make_user("owner"), await make_user("asker")
    async with get_database(app).new_db() as db:
        await db.execute(
            update(User)
            .where(User.id == owner.id)
            .values(email="Owner@example.org", email_key="owner@example.org")
        )
        await db.commit()
    client = await signed_in_client(asker)
    free = await client.post(
        "/account/email", form={"email": "free@example.org", "current_password": PASSWORD}
    )
    taken = await client.post(
        "/account/email", form={"email": "OWNER@example.org", "current_password": PASSWORD}
    )
    assert free.status_code == taken.status_code == 303
    pages = [await (await client.get("/account/email")).get_data(as_text=True)]
    assert "Check your inbox at OWNER@example.org" in pages[0]  # the same flash, the same page
    messages = await mail_outbox.wait_for(2)
    by_address = {m["To"]: m for m in messages}
    warning = by_address["OWNER@example.org"]
    assert "another account" in warning["Subject"]
    assert not LINK.search(text_of(warning))  # a notice, never a link to the asker's account
    assert "owner" in text_of(warning)
    assert (await user_row(app, "owner")).email == "Owner@example.org"
    assert (await user_row(app, "asker")).email is None
    again = await client.post(
        "/account/email", form={"email": "owner@example.org", "current_password": PASSWORD}
    )
    assert again.status_code == 303  # the same answer, but no second notice within the hour
    await asyncio.sleep(0.5)
    assert sum(m["To"] == "OWNER@example.org" for m in mail_outbox.messages) == 1


async def test_the_first_account_to_confirm_an_address_keeps_it(
    app: Quart, make_user: Any, signed_in_client: Any, mail_outbox: Any
) -> None:
    clients = [await signed_in_client(await make_user(name)) for name in ("ann", "bob")]
    for client in clients:
        form = {"email": "shared@example.org", "current_password": PASSWORD}
        assert (await client.post("/account/email", form=form)).status_code == 303
    messages = await mail_outbox.wait_for(2)
    paths = [local_path(link_in(m)) for m in messages]
    statuses = [
        (await press_confirm(c, p)).status_code for c, p in zip(clients, paths, strict=True)
    ]
    assert statuses == [303, 409]
    assert [(await user_row(app, n)).email for n in ("ann", "bob")] == ["shared@example.org", None]


async def test_two_presses_at_once_confirm_once(
    app: Quart, client: Client, auth: AuthActions, mail_outbox: Any
) -> None:
    await register(client, auth, "ann", "ann@example.org")
    (message,) = await mail_outbox.wait_for(1)
    path = local_path(link_in(message))
    form = {"csrf_token": csrf_from(await (await client.get(path)).get_data(as_text=True))}
    responses = await asyncio.gather(*(client.post(path, form=form) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [303, 400]
    assert (await user_row(app, "ann")).email == "ann@example.org"


async def test_a_newer_link_replaces_the_older_one(
    app: Quart, make_user: Any, signed_in_client: Any, mail_outbox: Any
) -> None:
    client = await signed_in_client(await make_user("ann"))
    for address in ("one@example.org", "two@example.org"):
        form = {"email": address, "current_password": PASSWORD}
        assert (await client.post("/account/email", form=form)).status_code == 303
    first, second = await mail_outbox.wait_for(2)
    assert (await client.get(local_path(link_in(first)))).status_code == 400
    assert (await press_confirm(client, local_path(link_in(second)))).status_code == 303
    assert (await user_row(app, "ann")).email == "two@example.org"


async def test_the_link_is_resent_at_most_once_per_three_minutes(
    app: Quart, make_user: Any, signed_in_client: Any, mail_outbox: Any
) -> None:
    client = await signed_in_client(await make_user("ann"))
    form = {"email": "ann@example.org", "current_password": PASSWORD}
    await client.post("/account/email", form=form)
    await mail_outbox.wait_for(1)
    too_soon = await client.post("/account/email/resend", form={})
    assert too_soon.status_code == 303
    page = await (await client.get("/account/email")).get_data(as_text=True)
    assert "Send it again in" in page
    await asyncio.sleep(0.3)
    assert len(mail_outbox.messages) == 1
    async with get_database(app).new_db() as db:
        await db.execute(
            update(AccountToken).values(created_at=utcnow() - timedelta(minutes=3, seconds=1))
        )
        await db.commit()
    await client.post("/account/email/resend", form={})
    first, second = await mail_outbox.wait_for(2)
    assert second["To"] == "ann@example.org"
    assert link_in(first) != link_in(second)
    assert (await client.get(local_path(link_in(first)))).status_code == 400


async def test_links_use_public_url_whatever_host_the_request_names(
    make_user: Any, signed_in_client: Any, mail_outbox: Any
) -> None:
    client = await signed_in_client(await make_user("ann"))
    form = {"email": "ann@example.org", "current_password": PASSWORD}
    headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    await client.post("/account/email", form=form, headers=headers)
    (message,) = await mail_outbox.wait_for(1)
    assert link_in(message).startswith(PUBLIC_URL + "/")
    assert "evil.example" not in text_of(message) + html_of(message)
