"""Alembic environment (async): the app's models are the target; the URL is the app's."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from quart_app.config import Settings
from quart_app.core.database import default_database_url, make_engine
from quart_app.tables import metadata

config = context.config
target_metadata = metadata


def database_url() -> str:
    """The URL given by the caller, else the app's (DATABASE_URL or the default SQLite file)."""
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    settings = Settings.load()
    return settings.DATABASE_URL or default_database_url("instance")


def run_on(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things in place; batch mode copies the table.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = make_engine(database_url())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    run_on(connection)  # the app (start-up, CLI) passes its own connection
else:
    asyncio.run(run_online())  # the alembic command line
