"""Command-line tasks: ``quart --app quart_app db-upgrade``, ``init-db``, ``create-user NAME``,
``seed-users`` (many users at once, for load tests), ``reset-2fa NAME``, ``rotate-mfa-keys``, and
``users list|show|lock|unlock|revoke-sessions``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import IO, Any

import click
from quart import Quart
from quart.cli import ScriptInfo
from sqlalchemy.exc import IntegrityError

from quart_app.accounts.administration import (
    AccountSummary,
    account_summaries,
    end_sessions,
    lock_account,
    unlock_account,
)
from quart_app.accounts.models import User
from quart_app.accounts.users import (
    UsernameTaken,
    add_users_sharing_a_hash,
    create_user,
    look_up_user,
    normalise_username,
    username_problems,
)
from quart_app.config import ConfigError, Settings
from quart_app.core.database import Database, make_engine
from quart_app.core.schema import head_revision, migration_lock, upgrade
from quart_app.mfa.authenticator import reseal_secrets
from quart_app.mfa.encryption import InvalidToken, SecretBox
from quart_app.mfa.operator import reset_two_factor
from quart_app.passwords.hasher import PasswordHasherPool
from quart_app.passwords.policy import password_problems
from quart_app.state import get_database, get_secret_box, get_settings
from quart_app.throttle.database_store import DatabaseThrottleStore
from quart_app.throttle.policy import LoginThrottle
from quart_app.throttle.redis_store import RedisThrottleStore


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


@asynccontextmanager
async def _database_and_hasher(
    url: str, settings: Settings
) -> AsyncIterator[tuple[Database, PasswordHasherPool]]:
    """The app's database and hash pool for one command, stopped when it ends."""
    database = Database(url)
    hasher = PasswordHasherPool.from_settings(settings)
    await database.start()
    await hasher.start()
    try:
        yield database, hasher
    finally:
        hasher.shutdown()
        await database.stop()


async def _create_user(url: str, settings: Settings, username: str, password: str) -> None:
    async with _database_and_hasher(url, settings) as (database, hasher):
        async with database.new_db() as db:
            await create_user(db, username=username, password=password, hasher=hasher)
            await db.commit()


SEED_BATCH = 1_000  # rows per INSERT: one round trip per thousand users
SEED_MAX = 1_000_000


@click.command("seed-users")
@click.option("--count", type=click.IntRange(1, SEED_MAX), required=True, help="users to create")
@click.option("--prefix", required=True, help="their names: PREFIX00000, PREFIX00001 …")
@click.option(
    "--password-file",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help="a file (or - for standard input) whose first line is every user's password",
)
def seed_users_command(count: int, prefix: str, password_file: IO[str]) -> None:
    """Create COUNT users sharing one password, fast: for load tests, never for real people.

    One argon2 hash serves them all (a login still costs a full verify), and the rows go in
    batches, in one transaction: all are created, or none. The password comes from a file,
    never the command line (shell history, process listings), and must pass the same policy
    as registration.
    """
    app = _app()
    settings = get_settings(app)
    prefix = normalise_username(prefix)
    width = max(5, len(str(count - 1)))
    names = [f"{prefix}{number:0{width}d}" for number in range(count)]
    for name in (names[0], names[-1]):  # the shortest and the longest
        if problems := username_problems(name):
            raise click.BadParameter(f"{name!r}: {' '.join(problems)}", param_hint="--prefix")
    password = password_file.readline().rstrip("\r\n")
    if problems := password_problems(
        password,
        min_length=settings.PASSWORD_MIN_LENGTH,
        max_length=settings.PASSWORD_MAX_LENGTH,
        username=names[0],
    ):
        raise click.ClickException("The password file's password: " + " ".join(problems))
    try:
        asyncio.run(_seed_users(get_database(app).url, settings, names, password))
    except UsernameTaken:
        raise click.ClickException(
            f"Some users named {prefix}… exist already; none was created. Choose another prefix."
        ) from None
    click.echo(f"Created {count} users, {names[0]} to {names[-1]}.")


async def _seed_users(url: str, settings: Settings, names: list[str], password: str) -> None:
    async with _database_and_hasher(url, settings) as (database, hasher):
        password_hash = await hasher.hash(password)
        async with database.connect() as connection:
            try:
                for start in range(0, len(names), SEED_BATCH):
                    await add_users_sharing_a_hash(
                        connection, names[start : start + SEED_BATCH], password_hash
                    )
                await connection.commit()
            except IntegrityError:
                await connection.rollback()
                raise UsernameTaken(names[0]) from None


@click.command("reset-2fa")
@click.argument("username")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def reset_two_factor_command(username: str, yes: bool) -> None:
    """Turn two-factor sign-in off for USERNAME, who lost the authenticator app and the
    recovery codes: only once you know, by other means, that it is them.

    Deletes the app's secret and the recovery codes, ends every session and API token, and
    records the event on the account's activity page.
    """
    app = _app()
    if not yes:
        click.confirm(f"Turn two-factor sign-in off for {username}?", abort=True)
    ended = asyncio.run(_reset_two_factor(get_database(app).url, username))
    click.echo(f"Two-factor sign-in is off for {username}; {ended} session(s) ended.")


async def _reset_two_factor(url: str, username: str) -> int:
    database = Database(url)
    await database.start()
    try:
        user = await look_up_user(database, username)
        if user is None:
            raise click.ClickException(f"There is no user {username!r}.")
        if user.two_factor_since is None:
            raise click.ClickException(f"{user.username} has two-factor sign-in off already.")
        async with database.new_db() as db:
            ended = await reset_two_factor(db, user)
            await db.commit()
        return ended
    finally:
        await database.stop()


@click.command("rotate-mfa-keys")
def rotate_mfa_keys_command() -> None:
    """Re-encrypt every authenticator-app secret under the first MFA_ENCRYPTION_KEYS key (or
    the key derived from SECRET_KEY). Run after putting a new key first; then the old keys
    may go."""
    app = _app()
    count = asyncio.run(_rotate_keys(get_database(app).url, get_secret_box(app)))
    click.echo(f"Re-encrypted {count} secret(s) under the current key.")


async def _rotate_keys(url: str, box: SecretBox) -> int:
    database = Database(url)
    await database.start()
    try:
        async with database.new_db() as db:
            try:
                count = await reseal_secrets(db, box)
            except InvalidToken:
                raise click.ClickException(
                    "A secret opens with none of the keys: put back the key it was sealed "
                    "with (after the new one), then run this again."
                ) from None
            await db.commit()
        return count
    finally:
        await database.stop()


@click.group("users")
def users_group() -> None:
    """See and act on accounts: list, show, lock, unlock, revoke-sessions."""


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON array, for scripts")
def users_list_command(as_json: bool) -> None:
    """Every account: created, last sign-in, sessions, e-mail, two-factor, locked."""
    summaries = asyncio.run(_summaries(get_database(_app()).url))
    if as_json:
        click.echo(json.dumps([summary.as_json() for summary in summaries], indent=2))
        return
    for summary in summaries:
        click.echo(_one_line(summary))
    click.echo(f"{len(summaries)} account(s).")


@users_group.command("show")
@click.argument("username")
def users_show_command(username: str) -> None:
    """One account in full."""
    summary = asyncio.run(_summaries(get_database(_app()).url, username))[0]
    for key, value in summary.as_json().items():
        click.echo(f"{key + ':':<21} {'-' if value is None else value}")


@users_group.command("lock")
@click.argument("username")
def users_lock_command(username: str) -> None:
    """Lock the account: every sign-in is refused (with the generic message) and every session
    and API token ends, until ``users unlock``."""
    ended = asyncio.run(_on_account(get_database(_app()).url, username, "lock"))
    click.echo(f"Locked {username}; {ended} session(s) ended.")


@users_group.command("unlock")
@click.argument("username")
def users_unlock_command(username: str) -> None:
    """Unlock the account and forgive its failed sign-ins (its own throttle counters)."""
    app = _app()
    asyncio.run(_on_account(get_database(app).url, username, "unlock", get_settings(app)))
    click.echo(f"Unlocked {username}.")


@users_group.command("revoke-sessions")
@click.argument("username")
def users_revoke_sessions_command(username: str) -> None:
    """End every session and API token of the account (it may sign in again)."""
    ended = asyncio.run(_on_account(get_database(_app()).url, username, "revoke-sessions"))
    click.echo(f"Ended {ended} session(s) of {username}.")


def _one_line(summary: AccountSummary) -> str:
    flags = [
        "locked" if summary.locked_at else "",
        "2fa" if summary.two_factor else "",
        f"{summary.passkeys} passkey(s)" if summary.passkeys else "",
    ]
    last = summary.last_sign_in.strftime("%Y-%m-%d %H:%M") if summary.last_sign_in else "never"
    details = ", ".join(flag for flag in flags if flag)
    return (
        f"{summary.id:>6}  {summary.username:<32}  last sign-in {last:<16}  "
        f"{summary.sessions} session(s)  {summary.email or 'no address'}"
        + (f"  [{details}]" if details else "")
    )


async def _summaries(url: str, username: str | None = None) -> list[AccountSummary]:
    database = Database(url)
    await database.start()
    try:
        user_id = None
        if username is not None:
            user_id = (await _existing(database, username)).id
        async with database.new_db() as db:
            return await account_summaries(db, user_id)
    finally:
        await database.stop()


async def _existing(database: Database, username: str) -> User:
    user = await look_up_user(database, username)
    if user is None:
        raise click.ClickException(f"There is no user {username!r}.")
    return user


async def _on_account(
    url: str, username: str, action: str, settings: Settings | None = None
) -> int:
    database = Database(url)
    await database.start()
    try:
        user = await _existing(database, username)
        async with database.new_db() as db:
            if action == "lock":
                ended = await lock_account(db, user)
                if ended is None:
                    raise click.ClickException(f"{user.username} is locked already.")
            elif action == "unlock":
                if not await unlock_account(db, user):
                    raise click.ClickException(f"{user.username} is not locked.")
                ended = 0
            else:
                ended = await end_sessions(db, user)
            await db.commit()
        if settings is not None:  # unlock: the account's own failure counters go too
            await _forgive(database, settings, user)
        return ended
    finally:
        await database.stop()


async def _forgive(database: Database, settings: Settings, user: User) -> None:
    store: DatabaseThrottleStore | RedisThrottleStore
    if settings.REDIS_URL:
        store = RedisThrottleStore.from_url(settings.REDIS_URL, settings.REDIS_KEY_PREFIX)
    else:
        store = DatabaseThrottleStore(database)
    try:
        await LoginThrottle(store, settings).forgive_user(user.username, user.id)
    finally:
        await store.close()


def init_app(app: Quart) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(db_upgrade_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_users_command)
    app.cli.add_command(reset_two_factor_command)
    app.cli.add_command(rotate_mfa_keys_command)
    app.cli.add_command(users_group)
