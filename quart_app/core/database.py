"""Engine lifetime, one AsyncSession per request, SQLite pragmas; the schema via schema.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from quart import Quart, g
from sqlalchemy import Select, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from quart_app.core.hot_path import DatabaseUnavailable, HotPath, Rows, Write, open_hot_path
from quart_app.core.schema import ensure_schema
from quart_app.state import DATABASE, get_database, set_state

T = TypeVar("T")
# Long enough for a queue of writers under a login storm; short enough that a stuck lock is a 503.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# A write that matches no row: it needs SQLite's write lock or a writable server; changes nothing.
# alembic's own table: the one every schema has, whichever features it holds.
_WRITE_PROBE = text("UPDATE alembic_version SET version_num = version_num WHERE version_num = ''")
# What "the database is unreachable or overloaded" looks like: answered with 503, never 500.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    DBAPIError,
    PoolTimeoutError,
    OSError,
    DatabaseUnavailable,
)


def default_database_url(instance_path: str) -> str:
    return f"sqlite+aiosqlite:///{Path(instance_path) / 'app.db'}"


def make_engine(
    url: str, *, pool_size: int | None = None, max_overflow: int | None = None
) -> AsyncEngine:
    """An engine with SQLite tuned for several workers sharing one file.

    ``pool_size`` and ``max_overflow`` size the connection pool (SQLAlchemy's defaults, 5 and
    10, when None); an in-memory SQLite database has a single connection and ignores them.
    """
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    pool: dict[str, int] = {}
    if not (sqlite and parsed.database in (None, "", ":memory:")):
        if pool_size is not None:
            pool["pool_size"] = pool_size
        if max_overflow is not None:
            pool["max_overflow"] = max_overflow
    # pre-ping (a round trip per checkout) replaces connections the server dropped (a restart,
    # an idle timeout) before a request uses them. Measured without it: the same /dashboard
    # throughput within run-to-run noise, and 0.20 instead of 0.25 cores of PostgreSQL CPU;
    # kept, because no request then fails on a dead connection.
    engine = create_async_engine(url, pool_pre_ping=not sqlite, **pool)
    if sqlite:
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
    return engine


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # busy_timeout first, so that switching to WAL waits for a lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    # WAL: readers never wait for the writer, so several hypercorn workers can share the file.
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")  # durable in WAL mode at far fewer fsyncs
    cursor.execute("PRAGMA foreign_keys = ON")  # deleting a user must delete its sessions
    cursor.close()


class Database:
    """The app's engine and session factory, alive between before_serving and after_serving."""

    def __init__(
        self, url: str, *, pool_size: int | None = None, max_overflow: int | None = None
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.max_overflow = max_overflow
        self.engine: AsyncEngine | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self.hot_path: HotPath | None = None

    async def start(self) -> None:
        self.engine = make_engine(
            self.url, pool_size=self.pool_size, max_overflow=self.max_overflow
        )
        # expire_on_commit=False: objects stay readable after commit without a reload query.
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        try:
            await ensure_schema(self.engine)
            self.hot_path = await open_hot_path(self.engine, self.url, SQLITE_BUSY_TIMEOUT_MS)
        except BaseException:
            await self.stop()  # no pooled connections left behind by a refused start
            raise

    def connect(self) -> AsyncConnection:
        """A bare connection for Core statements (use as ``async with``)."""
        return _started(self.engine).connect()

    def new_db(self) -> AsyncSession:
        """A new ``db``, an ORM session (use as ``async with``, or close it)."""
        return _started(self.sessionmaker)()

    async def read_one(
        self, statement: Select[Any], values: Mapping[str, Any]
    ) -> Sequence[Any] | None:
        """One row of a hot-path SELECT straight from the driver (``hot_path``), or None; the
        columns come undecoded (timestamps through ``hot_path.as_utc``)."""
        return await _started(self.hot_path).fetch_one(statement, values)

    async def read_all(
        self, statement: Select[Any], values: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        """Every row of a hot-path SELECT, as ``read_one`` reads it."""
        return await _started(self.hot_path).fetch_all(statement, values)

    async def commit_together(self, *writes: Write) -> list[Rows]:
        """A hot-path transaction, its statements handed over at once, straight on the driver
        (``hot_path``); each one's returned rows. Raises ``hot_path.ConstraintViolated`` when a
        constraint refuses one (nothing is written). Not for a request whose ``db`` holds
        uncommitted writes: on SQLite this transaction would wait for that one's lock."""
        return await _started(self.hot_path).commit_together(*writes)

    async def check_writable(self) -> None:
        """Raise unless a write could start now; the probe is rolled back and changes nothing.

        A SELECT still answers while a stuck connection holds SQLite's write lock (or PostgreSQL
        is read-only), when every login and registration fails: a health check must write.
        """
        async with self.connect() as connection:
            await connection.execute(_WRITE_PROBE)
            await connection.rollback()

    async def stop(self) -> None:
        if self.hot_path is not None:
            await self.hot_path.close()
            self.hot_path = None
        if self.engine is not None:
            await self.engine.dispose()
        self.engine = None
        self.sessionmaker = None


def _started(part: T | None) -> T:
    """A part that exists only between ``start`` and ``stop``."""
    if part is None:
        raise RuntimeError("database not started: run the app through its serving hooks")
    return part


def init_app(app: Quart, url: str, *, pool_size: int, max_overflow: int) -> None:
    database = Database(url, pool_size=pool_size, max_overflow=max_overflow)
    set_state(app, DATABASE, database)
    app.before_serving(database.start)
    app.after_serving(database.stop)
    app.teardown_appcontext(close_db)


def get_db() -> AsyncSession:
    """This request's AsyncSession, opened on first use and closed when the request ends."""
    if "db" not in g:
        g.db = get_database().new_db()
    return g.db


async def close_db(_exception: BaseException | None) -> None:
    db: AsyncSession | None = g.pop("db", None)
    if db is not None:
        # Shielded, as SQLAlchemy's own ``async with`` exit is: a cancellation arriving now must
        # not skip the rollback and leave a transaction open, or a connection checked out.
        await asyncio.shield(db.close())
