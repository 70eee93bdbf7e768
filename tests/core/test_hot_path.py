"""Driver-level hot reads: what the engine committed is read at once, a broken connection is
replaced, and every URL gets the most direct path it allows."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from quart import Quart
from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from quart_app.accounts.models import User
from quart_app.accounts.users import create_user
from quart_app.core.clock import utcnow
from quart_app.core.hot_path import (
    ConstraintViolated,
    DatabaseUnavailable,
    HotPath,
    PostgresPath,
    SQLitePath,
    Write,
    as_utc,
    open_hot_path,
)
from quart_app.events.models import AuthEvent
from quart_app.sessions.models import UserSession
from quart_app.sessions.store import issue_session, new_session
from quart_app.state import get_database, get_hasher, get_settings
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
    reads = get_database(app).hot_path
    assert isinstance(reads, SQLitePath)
    await reads.close()  # as if its connection had failed
    assert await reads.fetch_one(NAME_BY_KEY, {"key": "nobody"}) is None  # reopened on use


@sqlite_only
async def test_an_unreadable_sqlite_file_is_a_database_error(tmp_path: Path) -> None:
    (tmp_path / "app.db").mkdir()  # a folder where the file should be
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    reads = SQLitePath(engine, str(tmp_path / "app.db"), busy_timeout_ms=100)
    try:
        with pytest.raises(DatabaseUnavailable):
            await reads.fetch_one(NAME_BY_KEY, {"key": "alice"})
        with pytest.raises(DatabaseUnavailable):  # and again: no half-open connection kept
            await reads.fetch_one(NAME_BY_KEY, {"key": "alice"})
    finally:
        await reads.close()
        await engine.dispose()
        await _finish_aiosqlite_threads()


async def _finish_aiosqlite_threads() -> None:
    """A failed aiosqlite connect stops its thread without waiting (the thread then answers a
    future of this loop): let it finish while the loop still runs, or it answers a closed one."""
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 5)


@pytest.mark.skipif(not ON_SERVER_DATABASE, reason="needs TEST_DATABASE_URL (PostgreSQL)")
async def test_a_postgres_connection_the_server_ended_is_replaced(app: Quart) -> None:
    """A backend killed under an idle pooled connection (a restart, an idle timeout): the next
    read gets a fresh connection, as the engine's pre-ping would give it."""
    database = get_database(app)
    assert isinstance(database.hot_path, PostgresPath)
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
        reads = await open_hot_path(memory, "sqlite+aiosqlite://", 100)
        assert type(reads) is HotPath  # one connection holds an in-memory database
        assert await reads.fetch_all(select(text("1")), {}) == [(1,)]
        assert type(await open_hot_path(on_file, file_url + "?mode=ro", 100)) is HotPath
        direct = await open_hot_path(on_file, file_url, 100)
        assert isinstance(direct, SQLitePath)
        await direct.close()
    finally:
        await memory.dispose()
        await on_file.dispose()


def test_timestamps_come_out_aware_whatever_the_driver() -> None:
    aware = datetime(2026, 12, 2, 13, 4, 5, 678000, tzinfo=UTC)
    assert as_utc("2026-12-02 13:04:05.678000") == aware  # SQLite's text
    assert as_utc(aware.replace(tzinfo=None)) == aware  # asyncpg's naive timestamp
    assert as_utc(aware) == aware  # the engine's UTCDateTime


SESSIONS, EVENTS = UserSession.__table__, AuthEvent.__table__
EVENT_OF = insert(EVENTS)


async def _user(app: Quart, name: str = "alice") -> User:
    async with get_database(app).new_db() as db:
        user = await create_user(
            db, username=name, password="a long password", hasher=get_hasher(app)
        )
        await db.commit()
    return user


async def _count(app: Quart, table: object) -> int:
    async with get_database(app).connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)))  # type: ignore[arg-type]


def _event(user_id: int) -> Write:
    return Write(EVENT_OF, {"user_id": user_id, "kind": "login_succeeded", "created_at": utcnow(),
                            "ip": "127.0.0.1", "user_agent": "test"})  # fmt: skip


async def test_a_transaction_on_the_driver_commits_every_statement_with_what_they_return(
    app: Quart,
) -> None:
    user = await _user(app)
    new = new_session(user=user, remember=True, user_agent="ua", settings=get_settings(app))
    results = await get_database(app).commit_together(new.write, _event(user.id))
    assert len(results) == 2 and results[1] == []  # the event insert returns nothing
    session_id = results[0][0][0]
    async with get_database(app).new_db() as db:
        row = await db.get(UserSession, session_id)
    assert row is not None and row.user_id == user.id and row.remember is True
    assert await _count(app, EVENTS) == 1


async def test_a_refused_statement_leaves_nothing_of_its_transaction(app: Quart) -> None:
    """The event's foreign key names no account: the session insert before it is undone too."""
    user = await _user(app)
    new = new_session(user=user, remember=False, user_agent="ua", settings=get_settings(app))
    with pytest.raises(ConstraintViolated):
        await get_database(app).commit_together(new.write, _event(user.id + 1000))
    assert await _count(app, SESSIONS) == 0
    assert await _count(app, EVENTS) == 0
    # ...and the path still writes afterwards.
    await get_database(app).commit_together(_event(user.id))
    assert await _count(app, EVENTS) == 1


async def test_rows_written_on_the_driver_are_stored_as_the_engine_stores_them(app: Quart) -> None:
    """Same values through both paths: the same bytes in the table (timestamps, booleans), so
    lookups, expiry and ordering cannot tell them apart."""
    user = await _user(app)
    settings = get_settings(app)
    through_driver = new_session(user=user, remember=True, user_agent="ua", settings=settings)
    (written,) = await get_database(app).commit_together(through_driver.write)
    async with get_database(app).new_db() as db:
        _token, through_engine = await issue_session(
            db, user=user, remember=True, user_agent="ua", settings=settings
        )
        await db.execute(
            SESSIONS.update()
            .where(SESSIONS.c.id == through_engine.id)
            .values({key: through_driver.write.values[key]
                     for key in ("created_at", "last_seen_at", "expires_at")})
        )  # fmt: skip
        await db.commit()
    stored = text(
        "SELECT CAST(created_at AS TEXT), CAST(expires_at AS TEXT), CAST(remember AS TEXT) "
        "FROM sessions WHERE id = :id"
    )
    async with get_database(app).connect() as connection:
        driver_row = (await connection.execute(stored, {"id": written[0][0]})).one()
        engine_row = (await connection.execute(stored, {"id": through_engine.id})).one()
    assert driver_row == engine_row
    signed_in = through_driver.signed_in(written[0][0])
    assert signed_in.expires_at == through_driver.write.values["expires_at"]


@sqlite_only
async def test_a_closed_sqlite_writer_writes_again(app: Quart) -> None:
    user = await _user(app)
    path = get_database(app).hot_path
    assert isinstance(path, SQLitePath)
    await path.close()  # as if its connections had failed
    await path.commit_together(_event(user.id))
    assert await path.fetch_one(NAME_BY_KEY, {"key": "alice"}) == ("alice",)


@sqlite_only
async def test_an_unwritable_sqlite_file_is_a_database_error(tmp_path: Path) -> None:
    (tmp_path / "app.db").mkdir()  # a folder where the file should be
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    path = SQLitePath(engine, str(tmp_path / "app.db"), busy_timeout_ms=100)
    try:
        for _ in range(2):  # and again: no half-open connection kept
            with pytest.raises(DatabaseUnavailable):
                await path.commit_together(_event(1))
    finally:
        await path.close()
        await engine.dispose()


async def test_the_engine_path_commits_together_too() -> None:
    """An in-memory database (one engine connection): the same contract through the engine."""
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("PRAGMA foreign_keys = ON"))
            await connection.run_sync(User.metadata.create_all)
        path = await open_hot_path(engine, "sqlite+aiosqlite://", 100)
        assert type(path) is HotPath
        with pytest.raises(ConstraintViolated):
            await path.commit_together(_event(1))  # no user 1
        async with engine.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(EVENTS)) == 0
    finally:
        await engine.dispose()
