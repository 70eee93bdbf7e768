"""The schema is Alembic's migrations: applied by hand (db-upgrade), or at start on a new database.

A fresh, empty database is migrated to the latest revision at start-up (one worker at a time,
under a lock), so the README's run command needs no extra step. A database at an older
revision is never migrated behind the operator's back: the app refuses to start and says which
command to run.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"  # package data
UPGRADE_COMMAND = "quart --app quart_app db-upgrade"
# pg_advisory_lock key for "migrating": any 64-bit number this app alone uses.
LOCK_KEY = 0x71756172745F6170


class SchemaOutOfDate(RuntimeError):
    """The database is not at the revision this code needs; a start-up error, never per request."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _state(connection: Connection) -> tuple[str | None, bool]:
    current = MigrationContext.configure(connection).get_current_revision()
    return current, inspect(connection).has_table("users")


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Apply every migration not yet applied (``db-upgrade``)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


@asynccontextmanager
async def migration_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Held by one starting worker at a time, on every host, while it checks and migrates.

    Without it a second worker can look while the first is half-way (SQLite runs DDL outside
    the migration's transaction): some tables, no revision yet, which reads as "behind".
    PostgreSQL: an advisory lock. SQLite: an exclusive lock on a file beside the database.
    """
    url = engine.url
    if url.get_backend_name() == "postgresql":
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            try:
                yield
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        return
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        with open(f"{url.database}.migrate-lock", "a") as handle:  # noqa: ASYNC230  (start-up)
            await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return
    yield  # an in-memory database has one process by definition


async def ensure_schema(engine: AsyncEngine) -> None:
    """Migrate an empty database; refuse one that is behind; accept one that is current."""
    head = head_revision()
    async with migration_lock(engine):
        async with engine.connect() as connection:
            current, has_tables = await connection.run_sync(_state)
        if current == head:
            return
        if current is not None or has_tables:
            raise SchemaOutOfDate(
                f"The database schema is at revision {current or 'none (unversioned tables)'}; "
                f"this code needs {head}. Back up the database, then run: {UPGRADE_COMMAND}"
            )
        await upgrade(engine)
        log.info("migrated the new database to revision %s", head)
