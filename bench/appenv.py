"""The app servers' environment, and the users seeded for them.

The bench reads Settings from the very environment it hands to hypercorn, so the argon2
parameters it times and seeds with are the workers' own: the app's real ones, never the test
kit's ``server_environment()`` and its fast hashing profile.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.load import SeededUsers
from quart_app.accounts.models import User
from quart_app.accounts.users import add_users_sharing_a_hash
from quart_app.core.database import Database
from quart_app.testing.server import APP_SETTINGS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HYPERCORN_TOML = PROJECT_ROOT / "hypercorn.toml"
PASSWORD = "bench correct horse battery staple"  # noqa: S105 - a throwaway benchmark password
# Off unless --keep-throttles: every virtual client is 127.0.0.1, so a per-IP limit would
# measure the throttle, not the server.
THROTTLES_OFF = {
    "THROTTLE_LOGIN_PER_MINUTE": "0",
    "THROTTLE_REGISTER_PER_MINUTE": "0",
    "THROTTLE_PAIR_LIMIT": "0",
    "THROTTLE_USER_LIMIT": "0",
}
# The throttles a login's POST consults: with all of them 0 it does no limiter bookkeeping.
LOGIN_THROTTLES = ("THROTTLE_LOGIN_PER_MINUTE", "THROTTLE_PAIR_LIMIT", "THROTTLE_USER_LIMIT")


def app_environment(
    instance: Path, database_url: str | None, extra: Mapping[str, str], throttles: Mapping[str, str]
) -> dict[str, str]:
    """This process's environment without app settings (so the app's defaults are measured),
    plus the bench's, ``throttles`` and --env's ``extra``."""
    env = {name: value for name, value in os.environ.items() if name not in APP_SETTINGS}
    env.update(INSTANCE_PATH=str(instance), COOKIE_SECURE="false", PYTHONUNBUFFERED="1")
    if database_url:
        env["DATABASE_URL"] = database_url
    return {**env, **throttles, **extra}


def limiter_environment(
    instance: Path, extra: Mapping[str, str], throttles: Mapping[str, str]
) -> dict[str, str]:
    """A limiter server's: --env's settings but for throttles and the database (it has a fresh
    SQLite one in ``instance``), so HASH_POOL_SIZE and the like match, plus ``throttles``."""
    ignored = ("DATABASE_URL", "INSTANCE_PATH")
    kept = {k: v for k, v in extra.items() if not k.startswith("THROTTLE_") and k not in ignored}
    if kept.get("REDIS_URL"):
        # Counters in a Redis that outlives the server: start from none, as a fresh SQLite
        # database would, under a key prefix of this server's own.
        prefix = kept.get("REDIS_KEY_PREFIX", "quart_app:")
        kept["REDIS_KEY_PREFIX"] = f"{prefix}bench-{secrets.token_hex(6)}:"
    return app_environment(instance, None, kept, throttles)


def hypercorn_workers() -> int:
    """Worker processes hypercorn.toml asks for (the bench never overrides it)."""
    with HYPERCORN_TOML.open("rb") as file:
        return int(tomllib.load(file).get("workers", 1))


def app_revision() -> str:
    """The commit measured, for the report's header."""
    command = ["git", "rev-parse", "--short", "HEAD"]
    try:
        return subprocess.check_output(  # noqa: S603 - fixed arguments
            command, cwd=PROJECT_ROOT, text=True, stderr=subprocess.DEVNULL, timeout=10
        ).strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"


async def _in_one_transaction(
    database_url: str, work: Callable[[AsyncConnection], Awaitable[object]]
) -> None:
    """``work`` on a connection of the app's own Database (which creates the schema if need
    be), committed."""
    database = Database(database_url)
    await database.start()
    try:
        async with database.connect() as connection:
            await work(connection)
            await connection.commit()
    finally:
        await database.stop()


async def seed_users(database_url: str, password_hash: str, count: int) -> SeededUsers:
    """``count`` users named ``b<run id>-<n>``, all with ``password_hash`` (of PASSWORD): one
    hash costs a verify what a distinct one would, and seeding hundreds takes one hash."""
    prefix = f"b{secrets.token_hex(4)}-"
    usernames = [f"{prefix}{number:05d}" for number in range(count)]
    await _in_one_transaction(
        database_url,
        lambda connection: add_users_sharing_a_hash(connection, usernames, password_hash),
    )
    return SeededUsers(usernames, PASSWORD, prefix)


async def delete_users(database_url: str, prefix: str) -> None:
    """Remove a run's users (their sessions go by ON DELETE CASCADE) from a shared database."""
    statement = delete(User).where(User.username_key.startswith(prefix))
    await _in_one_transaction(database_url, lambda connection: connection.execute(statement))
