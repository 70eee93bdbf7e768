"""Driver-level hot reads: what the engine committed is read at once, a broken connection is
replaced, and every URL gets the most direct path it allows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from quart import Quart
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from quart_app.accounts.models import User
from quart_app.accounts.users import create_user
from quart_app.core.hot_reads import (
    DatabaseUnavailable,
    HotReads,
    PostgresReads,
    SQLiteReads,
    as_utc,
    open_hot_reads,
)
from quart_app.state import get_database, get_hasher
from tests.support.services import ON_SERVER_DATABASE, sqlite_only

USERS = User.__table__
NAME_BY_KEY = select(USERS.c.username).where(USERS.c.username_key == bindparam("key"))


async def test_a_committed_row_is_read_at_once(app: Quart) -> None:
    """No cache, no snapshot held open: a commit on the engine is what the next read sees."""
    database = get_database(app)
    assert await database.read_one(NAME_BY_KEY, {"key": "alice"}) is None
    async with database.sessionmaker() as db:  # type: ignore[misc]
        await create_user(db, username="Alice", password="a long password", hasher=get_hasher(app))
        await db.commit()
    assert await database.read_one(NAME_BY_KEY, {"key": "alice"}) == ("Alice",)
    async with database.connect() as connection:
        await connection.execute(text("DELETE FROM users"))
        await connection.commit()
    assert await database.read_one(NAME_BY_KEY, {"key": "alice"}) is None
    assert await database.read_all(NAME_BY_KEY, {"key": "alice"}) == []


@sqlite_only
async def test_a_broken_sqlite_reader_is_replaced(app: Quart) -> None:
    reads = get_database(app).hot_reads
    assert isinstance(reads, SQLiteReads)
    await reads.close()  # as if its connection had failed
    assert await reads.fetch_one(NAME_BY_KEY, {"key": "nobody"}) is None  # reopened on use


@sqlite_only
async def test_an_unreadable_sqlite_file_is_a_database_error(tmp_path: Path) -> None:
    (tmp_path / "app.db").mkdir()  # a folder where the file should be
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    reads = SQLiteReads(engine, str(tmp_path / "app.db"), busy_timeout_ms=100)
    try:
        with pytest.raises(DatabaseUnavailable):
            await reads.fetch_one(NAME_BY_KEY, {"key": "alice"})
        with pytest.raises(DatabaseUnavailable):  # and again: no half-open connection kept
            await reads.fetch_one(NAME_BY_KEY, {"key": "alice"})
    finally:
        await reads.close()
        await engine.dispose()


@pytest.mark.skipif(not ON_SERVER_DATABASE, reason="needs TEST_DATABASE_URL (PostgreSQL)")
async def test_a_postgres_connection_the_server_ended_is_replaced(app: Quart) -> None:
    """A backend killed under an idle pooled connection (a restart, an idle timeout): the next
    read gets a fresh connection, as the engine's pre-ping would give it."""
    database = get_database(app)
    assert isinstance(database.hot_reads, PostgresReads)
    assert await database.read_one(NAME_BY_KEY, {"key": "nobody"}) is None  # a pooled connection
    async with database.connect() as connection:
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = ''"
            )
        )
    assert await database.read_one(NAME_BY_KEY, {"key": "nobody"}) is None


async def test_each_url_gets_the_most_direct_path(tmp_path: Path) -> None:
    memory = create_async_engine("sqlite+aiosqlite://")
    file_url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    on_file = create_async_engine(file_url)
    try:
        reads = await open_hot_reads(memory, "sqlite+aiosqlite://", 100)
        assert type(reads) is HotReads  # one connection holds an in-memory database
        assert await reads.fetch_all(select(text("1")), {}) == [(1,)]
        assert type(await open_hot_reads(on_file, file_url + "?mode=ro", 100)) is HotReads
        direct = await open_hot_reads(on_file, file_url, 100)
        assert isinstance(direct, SQLiteReads)
        await direct.close()
    finally:
        await memory.dispose()
        await on_file.dispose()


def test_timestamps_come_out_aware_whatever_the_driver() -> None:
    aware = datetime(2026, 12, 2, 13, 4, 5, 678000, tzinfo=UTC)
    assert as_utc("2026-12-02 13:04:05.678000") == aware  # SQLite's text
    assert as_utc(aware.replace(tzinfo=None)) == aware  # asyncpg's naive timestamp
    assert as_utc(aware) == aware  # the engine's UTCDateTime
