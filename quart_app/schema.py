"""The schema is Alembic's migrations: applied by hand (db-upgrade), or at start on a new database.

A fresh, empty database is migrated to the latest revision at start-up, so the README's run
command needs no extra step. A database at an older revision is never migrated behind the
operator's back: the app refuses to start and says which command to run.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
UPGRADE_COMMAND = "quart --app quart_app db-upgrade"
ATTEMPTS = 5


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


async def ensure_schema(engine: AsyncEngine) -> None:
    """Migrate an empty database; refuse one that is behind; accept one that is current.

    Several workers start at once: two may both find the database empty and both migrate; the
    loser's error is retried, and the retry finds the winner's revision.
    """
    head = head_revision()
    for attempt in range(1, ATTEMPTS + 1):
        async with engine.connect() as connection:
            current, has_tables = await connection.run_sync(_state)
        if current == head:
            return
        if current is not None or has_tables:
            raise SchemaOutOfDate(
                f"The database schema is at revision {current or 'none (unversioned tables)'}; "
                f"this code needs {head}. Back up the database, then run: {UPGRADE_COMMAND}"
            )
        try:
            await upgrade(engine)
            log.info("migrated the new database to revision %s", head)
            return
        except DBAPIError:
            if attempt == ATTEMPTS:
                raise
            log.info("migration raced another worker; checking again (%d)", attempt)
            await asyncio.sleep(0.1 * attempt)
