"""Command-line tasks: ``quart --app quart_app db-upgrade``, ``init-db``, ``create-user NAME``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import click
from quart import Quart
from quart.cli import ScriptInfo

from quart_app.accounts.users import (
    UsernameTaken,
    create_user,
    normalise_username,
    username_problems,
)
from quart_app.config import ConfigError, Settings
from quart_app.core.database import Database, make_engine
from quart_app.core.schema import head_revision, migration_lock, upgrade
from quart_app.passwords.hasher import PasswordHasherPool
from quart_app.passwords.policy import password_problems
from quart_app.state import get_database, get_settings


def load_settings(overrides: Mapping[str, Any]) -> Settings:
    """``Settings.load``; under a command, a bad value becomes click's one ``Error:`` line.

    ``quart --app quart_app CMD`` calls create_app to find CMD, before any command here runs.
    Click prints a ClickException as one line and exits 1; anything else, as a traceback.
    """
    try:
        return Settings.load(overrides=overrides)
    except ConfigError as error:
        if click.get_current_context(silent=True) is None:
            raise  # not under a command: asgi.py or the caller reports it
        raise click.ClickException(error.report()) from None


def _app() -> Quart:
    """The app the ``quart`` command loaded.

    Quart runs CLI commands without an app context (and one made with its ``with_appcontext``
    runs inside an event loop, where these commands' own ``asyncio.run`` cannot start).
    """
    return click.get_current_context().ensure_object(ScriptInfo).load_app()


@click.command("db-upgrade")
def db_upgrade_command() -> None:
    """Apply the schema migrations not yet applied (back up the database first)."""
    asyncio.run(_upgrade(get_database(_app()).url))
    click.echo(f"Database at revision {head_revision()}.")


@click.command("init-db")
def init_db_command() -> None:
    """Create the schema on a new database (start-up does this too); same as db-upgrade."""
    asyncio.run(_upgrade(get_database(_app()).url))
    click.echo("Database ready.")


async def _upgrade(url: str) -> None:
    engine = make_engine(url)
    try:
        async with migration_lock(engine):  # never alongside a starting worker's migration
            await upgrade(engine)
    finally:
        await engine.dispose()


@click.command("create-user")
@click.argument("username")
def create_user_command(username: str) -> None:
    """Create a user; the password is prompted for, never taken from the command line.

    A password argument would land in shell history and in every process listing.
    """
    app = _app()
    settings = get_settings(app)
    username = normalise_username(username)
    if problems := username_problems(username):
        raise click.BadParameter(" ".join(problems), param_hint="USERNAME")
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if problems := password_problems(
        password,
        min_length=settings.PASSWORD_MIN_LENGTH,
        max_length=settings.PASSWORD_MAX_LENGTH,
        username=username,
    ):
        raise click.ClickException(" ".join(problems))
    try:
        asyncio.run(_create_user(get_database(app).url, settings, username, password))
    except UsernameTaken:
        raise click.ClickException(f"The username {username!r} is taken.") from None
    click.echo(f"Created user {username}.")


async def _create_user(url: str, settings: Settings, username: str, password: str) -> None:
    database = Database(url)
    hasher = PasswordHasherPool.from_settings(settings)
    await database.start()
    await hasher.start()
    try:
        assert database.sessionmaker is not None
        async with database.sessionmaker() as db:
            await create_user(db, username=username, password=password, hasher=hasher)
            await db.commit()
    finally:
        hasher.shutdown()
        await database.stop()


def init_app(app: Quart) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(db_upgrade_command)
    app.cli.add_command(create_user_command)
