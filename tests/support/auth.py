"""Route-test helpers: drive the auth forms as a browser does, count rows, spy on argon2."""

from __future__ import annotations

import re
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from quart_app.accounts.models import User
from quart_app.core.models import Base
from quart_app.sessions.models import UserSession
from quart_app.state import get_database, get_hasher
from quart_app.testing.plugin import DEFAULT_PASSWORD

__all__ = [
    "PASSWORD",
    "AuthActions",
    "Client",
    "auth_set_cookie",
    "count_rows",
    "csrf_from",
    "record_verifies",
    "users_and_sessions",
]

PASSWORD = DEFAULT_PASSWORD
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no csrf_token field"
    return match.group(1)


class AuthActions:
    """Drives the auth forms the way a browser does: GET the form for its token, then POST."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def csrf(self, path: str = "/login") -> str:
        response = await self.client.get(path)
        return csrf_from(await response.get_data(as_text=True))

    async def register(
        self, username: str = "alice", password: str = PASSWORD, *, email: str | None = None
    ) -> Any:
        token = await self.csrf("/register")
        form = {"username": username, "password": password, "csrf_token": token}
        if email is not None:
            form["email"] = email
        return await self.client.post("/register", form=form)

    async def login(
        self,
        username: str = "alice",
        password: str = PASSWORD,
        *,
        remember: bool = False,
        next_path: str | None = None,
    ) -> Any:
        token = await self.csrf("/login")
        form = {"username": username, "password": password, "csrf_token": token}
        if remember:
            form["remember"] = "on"
        query = {"next": next_path} if next_path is not None else None
        return await self.client.post("/login", form=form, query_string=query)

    async def logout(self) -> Any:
        token = await self.csrf("/login")  # every form page carries the session's token
        return await self.client.post("/logout", form={"csrf_token": token})


async def count_rows(app: Quart, model: type[Base]) -> int:
    sessionmaker = get_database(app).sessionmaker
    assert sessionmaker is not None
    async with sessionmaker() as db:
        return (await db.execute(select(func.count()).select_from(model))).scalar_one()


async def users_and_sessions(app: Quart) -> tuple[int, int]:
    """How many accounts and sessions exist: what a rejected request must not change."""
    return await count_rows(app, User), await count_rows(app, UserSession)


def auth_set_cookie(response: Any) -> str:
    """The response's Set-Cookie header for the auth cookie, flags included."""
    headers = response.headers.getlist("Set-Cookie")
    return next(header for header in headers if header.startswith("auth="))


def record_verifies(app: Quart) -> list[str]:
    """Spy on the app's argon2 verifies (the real ones still run); returns the hashes verified."""
    hasher = get_hasher(app)
    calls: list[str] = []
    original = hasher._verify_sync

    def counting_verify(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return original(password_hash, password)

    hasher._verify_sync = counting_verify
    return calls
