"""The schema is the migrations: they agree with the models, new databases are migrated at start,
and a database behind the code stops the app with the command to run."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from quart.testing.app import LifespanError
from sqlalchemy import Connection, text

from quart_app import create_app
from quart_app.core.database import make_engine
from quart_app.core.models import Base
from quart_app.core.schema import (
    SchemaOutOfDate,
    alembic_config,
    ensure_schema,
    head_revision,
    upgrade,
)
from quart_app.state import get_database


def differences(connection: Connection) -> list[Any]:
    return compare_metadata(MigrationContext.configure(connection), Base.metadata)


def revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await ensure_schema(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_new_database_is_migrated_at_start(app_config: dict[str, Any]) -> None:
    app = create_app(app_config)
    async with app.test_app():
        async with get_database(app).connect() as connection:
            assert await connection.run_sync(revision) == head_revision() == "0008"


async def test_database_behind_the_code_refuses_to_start(
    app_config: dict[str, Any], database_url: str
) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0001"))
        # Quart reports a failed start-up as LifespanError, carrying our message.
        with pytest.raises(
            LifespanError, match=rf"at revision 0001.*needs {head_revision()}.*db-upgrade"
        ):
            async with create_app(app_config).test_app():
                pass
        with pytest.raises(SchemaOutOfDate):  # still refused: never migrated behind one's back
            await ensure_schema(engine)
        await upgrade(engine)  # what db-upgrade does
        async with create_app(app_config).test_app():
            pass  # and now it starts
    finally:
        await engine.dispose()


async def test_unversioned_tables_are_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        with pytest.raises(SchemaOutOfDate, match="unversioned"):
            await ensure_schema(engine)
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM users")) == 0
    finally:
        await engine.dispose()


def migrate_in_a_new_process(url: str, barrier: Any) -> str | None:
    """What a starting hypercorn worker does: ensure the schema, then report the revision."""

    async def run() -> str | None:
        engine = make_engine(url)
        try:
            barrier.wait(timeout=60)  # all processes reach the schema check together
            await ensure_schema(engine)
            async with engine.connect() as connection:
                return await connection.run_sync(revision)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_workers_starting_together_on_a_new_database_all_start(tmp_path: Path) -> None:
    # Without the migration lock a worker could look while another was half-way through the
    # migration (some tables, no revision yet), call that "behind", and refuse to start.
    context = multiprocessing.get_context("spawn")
    for attempt in range(3):  # the race is a matter of timing: give it a few chances
        url = f"sqlite+aiosqlite:///{tmp_path / f'fresh-{attempt}.db'}"
        with context.Manager() as manager, ProcessPoolExecutor(4, mp_context=context) as pool:
            barrier = manager.Barrier(4)
            revisions = list(pool.map(migrate_in_a_new_process, [url] * 4, [barrier] * 4))
        assert revisions == [head_revision()] * 4


async def test_an_in_memory_database_is_migrated_without_a_lock_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a ":memory:.migrate-lock" would land
    engine = make_engine("sqlite+aiosqlite:///:memory:")
    try:
        await ensure_schema(engine)
    finally:
        await engine.dispose()
    assert list(tmp_path.iterdir()) == []
