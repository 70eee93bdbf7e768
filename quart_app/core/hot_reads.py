"""Driver-level reads for the hot path: the session behind every signed-in request's cookie, and
the account and throttle counters a login form names.

Through SQLAlchemy's async engine, an indexed read costs a pool checkout, a greenlet bridge for
each await, its result layers and a rollback on close: about 0.8 ms of the 2 ms a signed-in page
cost. Here the statement is compiled once, by SQLAlchemy, for the engine's dialect, and run on
the driver itself: one aiosqlite round trip on a read-only connection of its own, or one asyncpg
``fetch`` on a small pool. Only reads go this way, outside any transaction; every write stays
on the engine and the transaction rule (``quart_app.core``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy import Select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

# A lookup is one indexed read: two connections serve a worker's every signed-in page (wrk on
# /dashboard: 0.88-0.98 ms of server CPU per request with 2, 0.90-1.08 with 4, within the noise),
# and every connection is a PostgreSQL backend counted against max_connections.
POSTGRES_CONNECTIONS = 2
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5.0
# A read waiting longer than this for a connection or an answer is a 503, not a hung request.
POSTGRES_READ_TIMEOUT_SECONDS = 10.0
# asyncpg's errors for a pooled connection whose server went away (a restart) before the pool
# noticed: the read is retried on a fresh connection, as the engine's pre-ping would replace it
# (tests/core/test_database_outage.py restarts PostgreSQL between two requests).
# InternalClientError: a read that met the server's own termination notice mid-way.
_DEAD_CONNECTION = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
)


class DatabaseUnavailable(Exception):
    """A hot read failed in the driver: answered with 503 like the engine's DBAPIError."""


@dataclass(frozen=True, slots=True)
class HotQuery:
    """A SELECT compiled once for one dialect: its SQL and the order of its parameters."""

    sql: str
    parameter_names: tuple[str, ...]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(values[name] for name in self.parameter_names)


class HotReads:
    """The rows of a hot-path SELECT, with each statement compiled on its first use.

    Rows come as the driver gives them: SQLite's timestamps are text, PostgreSQL's naive; the
    caller decodes the few columns it reads (``as_utc``).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queries: dict[Select[Any], HotQuery] = {}

    def _query(self, statement: Select[Any]) -> HotQuery:
        query = self._queries.get(statement)
        if query is None:
            compiled = statement.compile(dialect=self._engine.dialect)
            query = HotQuery(compiled.string, tuple(compiled.positiontup or ()))
            self._queries[statement] = query
        return query

    async def fetch_one(
        self, statement: Select[Any], values: Mapping[str, Any]
    ) -> Sequence[Any] | None:
        """The first row, or None: for lookups by a unique key."""
        rows = await self.fetch_all(statement, values)
        return rows[0] if rows else None

    async def fetch_all(
        self, statement: Select[Any], values: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """Through the engine: for what no driver below can share (an in-memory SQLite database
        lives in the engine's one connection), or URLs with options only SQLAlchemy applies."""
        async with self._engine.connect() as connection:
            return (await connection.execute(statement, dict(values))).all()

    async def close(self) -> None:
        """The engine is the database's own: nothing else to close."""


class SQLiteReads(HotReads):
    """A read-only aiosqlite connection of its own: each read is one hop to its thread, and in
    WAL mode it never waits for a writer. After a failed read it is replaced on the next one,
    as the engine's pool replaces a broken connection."""

    def __init__(self, engine: AsyncEngine, path: str, busy_timeout_ms: int) -> None:
        super().__init__(engine)
        self._path, self._busy_timeout_ms = path, busy_timeout_ms
        self._connection: aiosqlite.Connection | None = None
        self._reopening = asyncio.Lock()  # reads arriving together reopen one connection

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self._path)
        try:
            await connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            await connection.execute("PRAGMA query_only = ON")
        except BaseException:
            await connection.close()
            raise
        return connection

    async def open(self) -> SQLiteReads:
        self._connection = await self._connect()
        return self

    async def fetch_all(
        self, statement: Select[Any], values: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        query = self._query(statement)
        try:
            connection = self._connection
            if connection is None:
                connection = await self._reopen()
            rows = await connection.execute_fetchall(query.sql, query.parameters(values))
        except (sqlite3.Error, ValueError) as error:  # ValueError: the connection was closed
            await self.close()
            raise DatabaseUnavailable(type(error).__name__) from error
        return list(rows)

    async def _reopen(self) -> aiosqlite.Connection:
        async with self._reopening:
            if self._connection is None:
                self._connection = await self._connect()
            return self._connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


async def _keep_session_state(_connection: asyncpg.Connection) -> None:
    """A pool connection returned after a hot read has nothing to reset: one SELECT, outside any
    transaction, no session setting. asyncpg's default reset (RESET ALL, advisory unlocks …)
    would cost a server round trip per read; its local clean-up still runs."""


class PostgresReads(HotReads):
    """asyncpg's own small pool and its prepared-statement cache: each read is one ``fetch``."""

    def __init__(self, engine: AsyncEngine, pool: asyncpg.Pool) -> None:
        super().__init__(engine)
        self._pool = pool

    @classmethod
    async def open(cls, engine: AsyncEngine, url: URL) -> PostgresReads:
        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=POSTGRES_CONNECTIONS,
            timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS,
            reset=_keep_session_state,
        )
        return cls(engine, pool)

    async def fetch_all(
        self, statement: Select[Any], values: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        query = self._query(statement)
        arguments = query.parameters(values)
        try:
            try:
                return await self._fetch(query.sql, arguments)
            except _DEAD_CONNECTION:
                # One dead connection after a restart means they all are: the pool replaces
                # every one on its next use, so the retry cannot draw another dead one.
                await self._pool.expire_connections()
                return await self._fetch(query.sql, arguments)
        except (asyncpg.PostgresError, TimeoutError, *_DEAD_CONNECTION) as error:
            raise DatabaseUnavailable(type(error).__name__) from error

    async def _fetch(self, sql: str, arguments: tuple[Any, ...]) -> Sequence[Sequence[Any]]:
        timeout = POSTGRES_READ_TIMEOUT_SECONDS
        async with self._pool.acquire(timeout=timeout) as connection:
            return await connection.fetch(sql, *arguments, timeout=timeout)

    async def close(self) -> None:
        await self._pool.close()


async def open_hot_reads(engine: AsyncEngine, url: str, busy_timeout_ms: int) -> HotReads:
    """The most direct read path ``url`` allows."""
    parsed = make_url(url)
    if parsed.query:
        return HotReads(engine)  # driver options in the URL: the engine knows how to apply them
    if parsed.drivername == "sqlite+aiosqlite" and parsed.database not in (None, "", ":memory:"):
        return await SQLiteReads(engine, parsed.database, busy_timeout_ms).open()
    if parsed.drivername == "postgresql+asyncpg":
        return await PostgresReads.open(engine, parsed)
    return HotReads(engine)


def as_utc(value: datetime | str) -> datetime:
    """A timestamp column as an aware UTC datetime, whichever driver read it (the engine's
    ``UTCDateTime`` returns it aware; SQLite's driver gives text, asyncpg a naive value)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
