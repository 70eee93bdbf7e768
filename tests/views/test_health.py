"""/healthz, and what users see while the database is unreachable: 503s, never 500s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from quart_app import create_app
from quart_app.core.database import make_engine
from quart_app.state import get_database
from tests.support.auth import PASSWORD, AuthActions, Client
from tests.support.services import sqlite_only


async def test_healthz_ok(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


@sqlite_only
async def test_database_outage_gives_503_not_500(
    app_config: dict[str, Any], tmp_path: Path
) -> None:
    app = create_app(app_config)
    async with app.test_app():
        client = app.test_client()
        auth = AuthActions(client)
        assert (await auth.register("alice")).status_code == 303
        token = await auth.csrf("/login")

        # Take the database away: close pooled connections and the hot-path reader's, and put
        # a folder where the file was.
        database = get_database(app)
        await database.engine.dispose()
        await database.hot_path.close()
        for path in tmp_path.glob("test.db*"):
            path.unlink()
        (tmp_path / "test.db").mkdir()

        response = await client.get("/healthz")
        assert response.status_code == 503
        assert await response.get_json() == {"status": "unavailable"}

        form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
        response = await client.post("/login", form=form)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        page = await response.get_data(as_text=True)
        assert "The site is briefly unavailable: wait 5 seconds, then try again." in page

        response = await client.get("/dashboard")
        assert response.status_code == 503


@asynccontextmanager
async def write_lock_held(database_url: str) -> AsyncIterator[None]:
    """Another connection holds the database's write lock: SQLite's file lock, or PostgreSQL's
    EXCLUSIVE lock on the table the probe writes (reads still pass, writes wait)."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            if engine.url.get_backend_name() == "sqlite":
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await connection.execute(text("LOCK TABLE alembic_version IN EXCLUSIVE MODE"))
            yield
            await connection.rollback()
    finally:
        await engine.dispose()


async def test_healthz_is_503_while_the_database_cannot_take_a_write(
    client: Client, database_url: str
) -> None:
    async with write_lock_held(database_url):
        response = await client.get("/healthz")
        assert response.status_code == 503  # a SELECT would still have answered
        assert await response.get_json() == {"status": "unavailable"}
    # The probe that overran was left to finish, not abandoned: the next check passes.
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
