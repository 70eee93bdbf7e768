"""The hot path straight on the driver: the reads every signed-in page and login form make (the
session behind a cookie, the account and throttle counters a form names), and a sign-in's
writes (the session row and its event) as one transaction.

Through SQLAlchemy's async engine, an indexed read costs a pool checkout, a greenlet bridge for
each await, its result layers and a rollback on close: about 0.8 ms of the 2 ms a signed-in page
cost; a sign-in's two inserts and their commit through an ORM session cost 2.4 ms of CPU against
0.25 ms as one trip to SQLite's thread (measured in process). Here each statement is compiled
once, by SQLAlchemy, for the engine's dialect (its bind processors too, so a row is stored
exactly as the engine would store it) and run on the driver itself: on SQLite, a read-only
aiosqlite connection for reads and one writing connection on a thread of its own, where a whole
transaction is one hop; on PostgreSQL, asyncpg's own small pool. Reads run outside any
transaction. Writes come here only as a whole transaction (``commit_together``), so the
transaction rule (``quart_app.core``) holds: the caller hands over every statement at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy import Select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import UpdateBase

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
    """A hot read or write failed in the driver: answered with 503 like the engine's DBAPIError."""


class _NotStarted(Exception):
    """A hot write found its pooled connection dead before its transaction began: safe to retry
    on a fresh one, since nothing was sent."""


class ConstraintViolated(Exception):
    """A hot write broke a constraint (a foreign key to a row deleted meanwhile, a unique key):
    the transaction was rolled back and changed nothing."""


@dataclass(frozen=True, slots=True)
class Write:
    """One INSERT, UPDATE or DELETE of a transaction, with its values (column keys for an
    INSERT's columns, bind names for the rest)."""

    statement: UpdateBase
    values: Mapping[str, Any] = field(default_factory=dict)


Rows = list[Sequence[Any]]  # what a statement returned: RETURNING's rows, or none


@dataclass(frozen=True, slots=True)
class HotQuery:
    """A statement compiled once for one dialect: its SQL, the order of its parameters and how
    the dialect converts each value (a UTC datetime to SQLite's text, a bool to 0 or 1)."""

    sql: str
    parameter_names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            values[name] if process is None else process(values[name])
            for name, process in zip(self.parameter_names, self.processors, strict=True)
        )


class HotPath:
    """Hot-path statements, each compiled on its first use; this base runs them on the engine.

    Rows come as the driver gives them: SQLite's timestamps are text, PostgreSQL's naive; the
    caller decodes the few columns it reads (``as_utc``).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._queries: dict[object, HotQuery] = {}

    def _query(self, statement: Select[Any] | UpdateBase, keys: tuple[str, ...] = ()) -> HotQuery:
        """``keys``: an INSERT's columns (it binds only the columns given values)."""
        query = self._queries.get((statement, keys))
        if query is None:
            dialect = self._engine.dialect
            # for_executemany: no RETURNING of the primary key that nobody asked for (the
            # engine adds it to single inserts on PostgreSQL); an explicit one stays.
            compiled = statement.compile(
                dialect=dialect,
                column_keys=list(keys) or None,
                for_executemany=isinstance(statement, UpdateBase),
            )
            names = tuple(compiled.positiontup or ())
            processors = tuple(compiled.binds[name].type.bind_processor(dialect) for name in names)
            query = HotQuery(compiled.string, names, processors)
            self._queries[(statement, keys)] = query
        return query

    def _write_query(self, write: Write) -> tuple[str, tuple[Any, ...]]:
        query = self._query(write.statement, tuple(sorted(write.values)))
        return query.sql, query.parameters(write.values)

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

    async def commit_together(self, *writes: Write) -> list[Rows]:
        """Run ``writes`` in one transaction and commit it; each one's returned rows, in order.

        Raises ConstraintViolated (nothing written) when a constraint refuses one of them.
        """
        try:
            async with self._engine.begin() as connection:
                results = [await connection.execute(w.statement, dict(w.values)) for w in writes]
                return [list(result.all()) if result.returns_rows else [] for result in results]
        except IntegrityError as error:
            raise ConstraintViolated(type(error.orig).__name__) from error

    async def close(self) -> None:
        """The engine is the database's own: nothing else to close."""


def _run_transaction(
    connection: sqlite3.Connection, steps: Sequence[tuple[str, tuple[Any, ...]]]
) -> list[Rows]:
    """On the writer's thread: every statement of one transaction, then the commit."""
    connection.execute("BEGIN IMMEDIATE")  # the write lock now, or wait for it (busy_timeout)
    try:
        results: list[Rows] = [connection.execute(sql, values).fetchall() for sql, values in steps]
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return results


class SQLiteWriter:
    """One writing connection on a thread of its own: a whole transaction is one hop there, and
    its statements never interleave with another's. It has the engine's pragmas (foreign keys
    on: a session for an account deleted meanwhile is refused), and after any failure but a
    constraint's it is closed and opened again on the next write. Closed, both come back on
    the next write."""

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path, self._busy_timeout_ms = path, busy_timeout_ms
        self._thread: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None

    def _connected(self) -> sqlite3.Connection:
        """On the writer's thread, the only one that touches the connection."""
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            try:
                connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
                connection.execute("PRAGMA foreign_keys = ON")
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def _transaction(self, steps: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Rows]:
        try:
            return _run_transaction(self._connected(), steps)
        except sqlite3.IntegrityError:
            raise
        except BaseException:
            self._disconnect()
            raise

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    async def commit(self, steps: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Rows]:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        loop = asyncio.get_running_loop()
        try:
            # A cancelled caller stops waiting, but a transaction under way on the thread still
            # finishes there, committed or rolled back whole.
            return await loop.run_in_executor(self._thread, self._transaction, steps)
        except sqlite3.IntegrityError as error:
            raise ConstraintViolated(type(error).__name__) from error
        except sqlite3.Error as error:
            raise DatabaseUnavailable(type(error).__name__) from error

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self._disconnect)
            thread.shutdown(wait=False)


class SQLitePath(HotPath):
    """Reads on a read-only aiosqlite connection of their own: each read is one hop to its
    thread, and in WAL mode it never waits for a writer. After a failed read it is replaced on
    the next one, as the engine's pool replaces a broken connection. Writes go to the
    ``SQLiteWriter``."""

    def __init__(self, engine: AsyncEngine, path: str, busy_timeout_ms: int) -> None:
        super().__init__(engine)
        self._path, self._busy_timeout_ms = path, busy_timeout_ms
        self._connection: aiosqlite.Connection | None = None
        self._reopening = asyncio.Lock()  # reads arriving together reopen one connection
        self._writer = SQLiteWriter(path, busy_timeout_ms)

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self._path)
        try:
            await connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            await connection.execute("PRAGMA query_only = ON")
        except BaseException:
            await connection.close()
            raise
        return connection

    async def open(self) -> SQLitePath:
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
            await self._close_reader()
            raise DatabaseUnavailable(type(error).__name__) from error
        return list(rows)

    async def commit_together(self, *writes: Write) -> list[Rows]:
        return await self._writer.commit([self._write_query(write) for write in writes])

    async def _reopen(self) -> aiosqlite.Connection:
        async with self._reopening:
            if self._connection is None:
                self._connection = await self._connect()
            return self._connection

    async def _close_reader(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def close(self) -> None:
        """Close both connections; a read or write after this opens its own again."""
        await self._close_reader()
        await self._writer.close()


async def _keep_session_state(_connection: asyncpg.Connection) -> None:
    """A pool connection returned after a hot read has nothing to reset: one SELECT, outside any
    transaction, no session setting. asyncpg's default reset (RESET ALL, advisory unlocks …)
    would cost a server round trip per read; its local clean-up still runs."""


class PostgresPath(HotPath):
    """asyncpg's own small pool and its prepared-statement cache: each read is one ``fetch``."""

    def __init__(self, engine: AsyncEngine, pool: asyncpg.Pool) -> None:
        super().__init__(engine)
        self._pool = pool

    @classmethod
    async def open(cls, engine: AsyncEngine, url: URL) -> PostgresPath:
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

    async def commit_together(self, *writes: Write) -> list[Rows]:
        steps = [self._write_query(write) for write in writes]
        try:
            try:
                return await self._transaction(steps)
            except _NotStarted:
                await self._pool.expire_connections()  # as a read does; nothing was written
                return await self._transaction(steps)
        except asyncpg.IntegrityConstraintViolationError as error:
            raise ConstraintViolated(type(error).__name__) from error
        except (_NotStarted, asyncpg.PostgresError, TimeoutError, *_DEAD_CONNECTION) as error:
            raise DatabaseUnavailable(type(error).__name__) from error

    async def _transaction(self, steps: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Rows]:
        timeout = POSTGRES_READ_TIMEOUT_SECONDS
        async with self._pool.acquire(timeout=timeout) as connection:
            transaction = connection.transaction()
            try:
                await transaction.start()
            except _DEAD_CONNECTION as error:
                raise _NotStarted(type(error).__name__) from error
            try:
                results: list[Rows] = [
                    list(await connection.fetch(sql, *values, timeout=timeout))
                    for sql, values in steps
                ]
            except BaseException:
                with contextlib.suppress(asyncpg.PostgresError, *_DEAD_CONNECTION):
                    await transaction.rollback()  # a dead connection has rolled back already
                raise
            await transaction.commit()
            return results

    async def close(self) -> None:
        await self._pool.close()


async def open_hot_path(engine: AsyncEngine, url: str, busy_timeout_ms: int) -> HotPath:
    """The most direct path to the driver ``url`` allows."""
    parsed = make_url(url)
    if parsed.query:
        return HotPath(engine)  # driver options in the URL: the engine knows how to apply them
    if parsed.drivername == "sqlite+aiosqlite" and parsed.database not in (None, "", ":memory:"):
        return await SQLitePath(engine, parsed.database, busy_timeout_ms).open()
    if parsed.drivername == "postgresql+asyncpg":
        return await PostgresPath.open(engine, parsed)
    return HotPath(engine)


def as_utc(value: datetime | str) -> datetime:
    """A timestamp column as an aware UTC datetime, whichever driver read it (the engine's
    ``UTCDateTime`` returns it aware; SQLite's driver gives text, asyncpg a naive value)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
