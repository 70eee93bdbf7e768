"""Shared fixtures: a fresh app and database per test, fast argon2, and an AuthActions helper."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from quart_app import create_app
from quart_app.accounts.models import User
from quart_app.core.clock import utcnow
from quart_app.core.models import Base
from quart_app.sessions.models import UserSession
from tests.backing_services import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    flush_redis,
    fresh_server_database,
)

# Tests hash hundreds of passwords; the production parameters are the subject of their own tests.
FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}
PASSWORD = "correct horse battery staple"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


# Markers by location: a new file in these folders is marked without anyone remembering to.
MARKERS_BY_PATH = {"integration": "integration", "browser": "browser", "test_bench.py": "bench"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_folder = Path(__file__).parent
    for item in items:
        relative = item.path.relative_to(tests_folder).parts
        for part, marker in MARKERS_BY_PATH.items():
            if relative and relative[0] == part:
                item.add_marker(marker)


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    if TEST_DATABASE_URL:
        await fresh_server_database(TEST_DATABASE_URL)
        return TEST_DATABASE_URL
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


sqlite_only = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="exercises the SQLite file itself")


@pytest.fixture
async def throttle_redis_url() -> str | None:
    """On PostgreSQL (.ci/run's second pass) the app keeps its throttle counters in Redis, as a
    scaled-out deployment does; on SQLite it keeps them in the database."""
    if not (TEST_DATABASE_URL and TEST_REDIS_URL):
        return None
    await flush_redis(TEST_REDIS_URL)
    return TEST_REDIS_URL


@pytest.fixture
def app_config(tmp_path: Path, database_url: str, throttle_redis_url: str | None) -> dict[str, Any]:
    return {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "REDIS_URL": throttle_redis_url,
        "SECRET_KEY": "test-secret-key-" + "k" * 32,
        "COOKIE_SECURE": False,
        "HASH_POOL_SIZE": 2,
        **FAST_ARGON2,
    }


@pytest.fixture
async def app(app_config: dict[str, Any]) -> AsyncIterator[Quart]:
    application = create_app(app_config)
    async with application.test_app():  # runs before_serving / after_serving
        yield application


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


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

    async def register(self, username: str = "alice", password: str = PASSWORD) -> Any:
        token = await self.csrf("/register")
        form = {"username": username, "password": password, "csrf_token": token}
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


@pytest.fixture
def auth(client: Client) -> AuthActions:
    return AuthActions(client)


class Clock:
    """Stands in for the wall clock (monkeypatched into a module) so expiry needs no waiting."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def count_rows(app: Quart, model: type[Base]) -> int:
    async with app.extensions["database"].sessionmaker() as db:
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
    hasher = app.extensions["passwords"]
    calls: list[str] = []
    original = hasher._verify_sync

    def counting_verify(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return original(password_hash, password)

    hasher._verify_sync = counting_verify
    return calls
