"""Usernames (normalise, validate), and the user queries: create, find, re-hash, delete."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from quart_app.accounts.models import User
from quart_app.core.database import Database
from quart_app.core.hot_path import as_utc
from quart_app.passwords.hasher import PasswordHasherPool

USERNAME_MIN, USERNAME_MAX = 3, 32
# ASCII only: Unicode letters would let "аdmin" (Cyrillic а) pass as "admin" (UTS #39 confusables).
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9._-]+")


class UsernameTaken(Exception):
    """The unique constraint refused the name: someone holds it, or won a concurrent race."""


def normalise_username(raw: str) -> str:
    """NFKC then trimmed: full-width "ｊｏｅ" and " joe " are the name "joe"."""
    return unicodedata.normalize("NFKC", raw).strip()


def username_key(username: str) -> str:
    """The form that decides uniqueness and lookup: "Joe", "JOE" and "ｊｏｅ" are one account."""
    return normalise_username(username).casefold()


def username_problems(username: str) -> list[str]:
    """Why a (normalised) username cannot be registered; empty when it can."""
    if not username:
        return ["Enter a username."]
    if not USERNAME_MIN <= len(username) <= USERNAME_MAX:
        return [f"Use {USERNAME_MIN} to {USERNAME_MAX} characters."]
    if not USERNAME_PATTERN.fullmatch(username):
        return ["Use only letters A–Z, digits, and the characters . _ -"]
    return []


async def create_user(
    db: AsyncSession, *, username: str, password: str, hasher: PasswordHasherPool
) -> User:
    """Insert a user; the database's unique constraint, not a prior SELECT, rejects duplicates.

    The argon2 hash is computed before the transaction opens so no lock is held while it runs.
    The caller commits (so the first session can join the same transaction).
    """
    username = normalise_username(username)
    user = User(username=username, username_key=username_key(username))
    await user.set_password(password, hasher)
    db.add(user)
    try:
        await db.flush()
    except IntegrityError:
        raise UsernameTaken(username) from None  # the caller rolls back
    return user


async def add_users_sharing_a_hash(
    db: AsyncSession | AsyncConnection, usernames: Sequence[str], password_hash: str
) -> None:
    """Insert users with one ready-made hash, in one statement (load tests' seeding: the CLI's
    ``seed-users`` and the benchmark); the names must be valid and normalised; the caller
    commits, and a taken name raises IntegrityError there."""
    rows = [
        {"username": name, "username_key": username_key(name), "password_hash": password_hash}
        for name in usernames
    ]
    await db.execute(insert(User.__table__), rows)


_USERS = User.__table__
_BY_KEY = select(
    _USERS.c.id, _USERS.c.username, _USERS.c.username_key, _USERS.c.password_hash,
    _USERS.c.created_at, _USERS.c.email, _USERS.c.two_factor_since, _USERS.c.locked_at,
).where(_USERS.c.username_key == bindparam("key"))  # fmt: skip


async def look_up_user(database: Database, username: str) -> User | None:
    """The user with this name, if any: straight from the driver, outside any transaction
    (``core.hot_path``). A name no one could have registered (too long, a NUL, other
    characters) is not looked up at all: PostgreSQL refuses NUL in text outright. The User is
    transient, in no ``db``: read its fields, or pass it to ``replace_password_hash``."""
    if username_problems(normalise_username(username)):
        return None
    row = await database.read_one(_BY_KEY, {"key": username_key(username)})
    if row is None:
        return None
    user_id, name, key, password_hash, created_at, email, two_factor_since, locked_at = row
    return User(
        id=user_id,
        username=name,
        username_key=key,
        password_hash=password_hash,
        created_at=as_utc(created_at),
        email=email,
        two_factor_since=None if two_factor_since is None else as_utc(two_factor_since),
        locked_at=None if locked_at is None else as_utc(locked_at),
    )


async def get_user(db: AsyncSession, user_id: int) -> User | None:
    return await db.get(User, user_id)


async def replace_password_hash(db: AsyncSession, user: User, new_hash: str) -> bool:
    """Store ``new_hash`` only if the stored hash is still the one ``user`` was loaded with.

    Ten changes sent at once with the same current password all verify it; this
    compare-and-set lets exactly one win, and the others find that the current password no
    longer matches (or that the account is gone). The caller commits. Returns whether it won.
    """
    result = await db.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == user.password_hash)
        .values(password_hash=new_hash)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    set_committed_value(user, "password_hash", new_hash)  # known, not an ORM change to flush
    return True


async def delete_user(db: AsyncSession, user_id: int) -> bool:
    """Delete the account; its sessions and events go with it (ON DELETE CASCADE).

    A plain DELETE, not the ORM's: two deletions at once are one deletion and a no-op (the
    ORM would warn that its row vanished). Returns whether this call deleted it.
    """
    result = await db.execute(delete(User).where(User.id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
