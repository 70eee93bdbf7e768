"""Seed users through the app's own Database and models, so the schema is the app's.

Every user shares one argon2 hash made with the app's parameters: verifying it costs the same as
verifying a distinct hash, and seeding hundreds of users then takes one hash, not hundreds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.errors import BenchError
from quart_app.accounts.models import User
from quart_app.accounts.users import username_key
from quart_app.config import Settings
from quart_app.core.database import Database
from quart_app.passwords.hasher import PasswordHasherPool

PASSWORD = "bench correct horse battery staple"  # noqa: S105 - a throwaway benchmark password


@dataclass(frozen=True)
class SeededUsers:
    usernames: list[str]
    password: str
    password_hash: str
    prefix: str  # every seeded username starts with it, so a run can delete exactly its users


def _sessionmaker(database: Database) -> async_sessionmaker[AsyncSession]:
    if database.sessionmaker is None:
        raise RuntimeError("database not started")
    return database.sessionmaker


async def make_password_hash(settings: Settings, password: str) -> str:
    """One hash with the app's pool and parameters, checked to need no rehash at login."""
    pool = PasswordHasherPool.from_settings(settings)
    await pool.start()
    try:
        password_hash = await pool.hash(password)
    finally:
        pool.shutdown()
    if pool.needs_rehash(password_hash):
        raise BenchError("seed hash does not match the app's argon2 parameters")
    return password_hash


async def seed_users(database_url: str, password_hash: str, count: int) -> SeededUsers:
    """Insert ``count`` users named ``b<run id>-<n>`` (unique per run, valid usernames), all
    with ``password_hash`` (of PASSWORD, from make_password_hash)."""
    prefix = f"b{secrets.token_hex(4)}-"
    usernames = [f"{prefix}{number:05d}" for number in range(count)]
    rows = [
        {"username": name, "username_key": username_key(name), "password_hash": password_hash}
        for name in usernames
    ]
    database = Database(database_url)
    await database.start()  # creates the schema if the app has not yet
    try:
        async with _sessionmaker(database)() as session:
            await session.execute(insert(User), rows)
            await session.commit()
    finally:
        await database.stop()
    return SeededUsers(usernames, PASSWORD, password_hash, prefix)


async def delete_users(database_url: str, prefix: str) -> None:
    """Remove a run's users (their sessions go by ON DELETE CASCADE) from a shared database."""
    database = Database(database_url)
    await database.start()
    try:
        async with _sessionmaker(database)() as session:
            await session.execute(delete(User).where(User.username_key.startswith(prefix)))
            await session.commit()
    finally:
        await database.stop()
