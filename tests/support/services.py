"""The database and Redis the tests run against, from TEST_DATABASE_URL and TEST_REDIS_URL.

Unset, every test gets a fresh SQLite file and no Redis. .ci/run's second pass sets both
(PostgreSQL and Redis), and then every real server started by the tests gets a database of its
own on that PostgreSQL server and keeps its throttle counters in that Redis: the deployment the
README's "Scaling out" section describes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from quart_app.core.database import make_engine
from quart_app.tables import metadata

# e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test and redis://127.0.0.1:6379/15 (a Redis
# database the tests may empty).
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
ON_SERVER_DATABASE = bool(TEST_DATABASE_URL)
if ON_SERVER_DATABASE and make_url(TEST_DATABASE_URL).get_backend_name() != "postgresql":
    # Servers get databases of their own with CREATE DATABASE: a PostgreSQL statement.
    raise pytest.UsageError(
        "TEST_DATABASE_URL must be a PostgreSQL URL (postgresql+asyncpg://…); "
        "leave it unset for SQLite"
    )
# Under CI=true a test that needs a service it cannot find fails instead of skipping.
sqlite_only = pytest.mark.skipif(ON_SERVER_DATABASE, reason="exercises the SQLite file itself")
IN_CI = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}

T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from sync code, even where an event loop is running
    (Playwright's sync API keeps one): on a fresh loop in a thread of its own."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def fresh_server_database(url: str) -> None:
    """Empty a shared database server's schema, so each test starts from nothing."""
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
            await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        await engine.dispose()


async def flush_redis(url: str) -> None:
    client = Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def _administer(url: str, statement: str) -> None:
    """Run one CREATE/DROP DATABASE (which refuse to run inside a transaction)."""
    engine = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


@contextmanager
def private_database(url: str) -> Iterator[str]:
    """A new, empty database beside ``url``'s on the same PostgreSQL server, dropped afterwards.

    A server under test keeps its connections open for its whole life, so tables cannot be
    dropped under it between tests: each server gets a database of its own instead.
    """
    base = make_url(url)
    name = f"{base.database}_server_{secrets.token_hex(6)}"  # [0-9a-z_]: needs no quoting
    run_coroutine(_administer(url, f"CREATE DATABASE {name}"))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        # WITH (FORCE) also ends connections a killed worker may have left behind.
        run_coroutine(_administer(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@contextmanager
def private_deployment() -> Iterator[dict[str, str]]:
    """What the servers of one deployment share: DATABASE_URL, a new PostgreSQL database, and
    with TEST_REDIS_URL, REDIS_URL under a key prefix of the deployment's own, so another
    deployment's counters (127.0.0.1 is every test client) never count against this one's."""
    with private_database(TEST_DATABASE_URL) as database_url:
        services = {"DATABASE_URL": database_url}
        if TEST_REDIS_URL:
            services["REDIS_URL"] = TEST_REDIS_URL
            services["REDIS_KEY_PREFIX"] = f"test-{secrets.token_hex(6)}:"
        yield services


@contextmanager
def server_backing_services(overrides: dict[str, str]) -> Iterator[dict[str, str]]:
    """A deployment of its own for one real server, unless ``overrides`` names its database.

    On SQLite (TEST_DATABASE_URL unset) this is nothing: the server uses its instance folder's
    app.db, as the README's run command does.
    """
    if not ON_SERVER_DATABASE or "DATABASE_URL" in overrides:
        yield {}
        return
    with private_deployment() as services:
        yield services
