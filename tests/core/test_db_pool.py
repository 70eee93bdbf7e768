"""The connection pool: sized by the settings, and kept, not reopened, under concurrent load."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from quart_app import create_app
from quart_app.core.database import make_engine
from quart_app.state import get_database
from tests.support.auth import AuthActions

CONCURRENT_REQUESTS = 12


async def test_engine_pool_follows_the_settings(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "DATABASE_POOL_SIZE": 7, "DATABASE_MAX_OVERFLOW": 3})
    async with app.test_app():
        pool = get_database(app).engine.pool
        assert (pool.size(), pool._max_overflow) == (7, 3)


async def test_in_memory_sqlite_ignores_pool_sizes() -> None:
    engine = make_engine("sqlite+aiosqlite://", pool_size=7, max_overflow=3)  # one connection
    try:
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("SELECT 1")).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_concurrent_requests_reuse_pooled_connections(app_config: dict[str, Any]) -> None:
    """Bursts no larger than the pool open each connection once: a pool smaller than the
    concurrency closes the surplus on return and reopens it on the next burst (on PostgreSQL a
    new backend process each time)."""
    app = create_app({**app_config, "DATABASE_POOL_SIZE": CONCURRENT_REQUESTS})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        assert (await auth.register("alice")).status_code == 303
        opened: list[object] = []
        engine = get_database(app).engine
        event.listen(engine.sync_engine, "connect", lambda connection, _: opened.append(connection))

        async def burst() -> list[int]:
            responses = await asyncio.gather(
                *(auth.client.get("/dashboard") for _ in range(CONCURRENT_REQUESTS))
            )
            return [response.status_code for response in responses]

        for _ in range(5):
            assert await burst() == [200] * CONCURRENT_REQUESTS
        assert len(opened) <= CONCURRENT_REQUESTS, len(opened)
