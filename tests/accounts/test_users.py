"""Username normalisation and validation; create and authenticate against a real database."""

from __future__ import annotations

import pytest
from quart import Quart
from sqlalchemy import select

from quart_app.accounts.models import User
from quart_app.accounts.users import (
    UsernameTaken,
    create_user,
    get_user,
    look_up_user,
    normalise_username,
    username_key,
    username_problems,
)
from quart_app.authn.flow import authenticate
from quart_app.state import get_database, get_hasher


@pytest.mark.parametrize(
    ("raw", "normalised", "key"),
    [
        ("alice", "alice", "alice"),
        ("  Alice\t", "Alice", "alice"),
        ("ＡＬＩＣＥ", "ALICE", "alice"),
        ("Bob.Smith-2_x", "Bob.Smith-2_x", "bob.smith-2_x"),
    ],
)
def test_normalise_and_key(raw: str, normalised: str, key: str) -> None:
    assert normalise_username(raw) == normalised
    assert username_key(raw) == key


@pytest.mark.parametrize("username", ["abc", "a" * 32, "A.b_c-9", "123"])
def test_valid_usernames(username: str) -> None:
    assert username_problems(username) == []


@pytest.mark.parametrize(
    ("username", "problem"),
    [
        ("", "Enter a username."),
        ("ab", "Use 3 to 32"),
        ("a" * 33, "Use 3 to 32"),
        ("has space", "Use only"),
        ("аdmin", "Use only"),  # Cyrillic а: a homoglyph of "admin"
        ("name@host", "Use only"),
        ("tab\tname", "Use only"),
        ("nul\x00x", "Use only"),
    ],
)
def test_invalid_usernames(username: str, problem: str) -> None:
    assert any(problem in text for text in username_problems(username))


async def open_db(app: Quart):  # type: ignore[no-untyped-def]
    return get_database(app).sessionmaker()


async def test_create_user_stores_hash_and_normalised_names(app: Quart) -> None:
    hasher = get_hasher(app)
    async with await open_db(app) as db:
        user = await create_user(db, username=" Ｃarol ", password="a long password", hasher=hasher)
        await db.commit()
    assert user.username == "Carol" and user.username_key == "carol"
    assert user.password_hash.startswith("$argon2id$")
    assert await user.check_password("a long password", hasher)
    assert not await user.check_password("another password", hasher)


async def test_create_user_duplicate_raises_username_taken(app: Quart) -> None:
    hasher = get_hasher(app)
    async with await open_db(app) as db:
        await create_user(db, username="carol", password="a long password", hasher=hasher)
        await db.commit()
        with pytest.raises(UsernameTaken):
            await create_user(db, username="CAROL", password="a long password", hasher=hasher)
    async with await open_db(app) as db:
        assert len((await db.execute(select(User))).scalars().all()) == 1


async def test_authenticate(app: Quart) -> None:
    hasher = get_hasher(app)
    check = {"hasher": hasher, "max_password_length": 1024, "database": get_database(app)}
    async with await open_db(app) as db:
        await create_user(db, username="dave", password="a long password", hasher=hasher)
        await db.commit()
        found = await authenticate(db, username="DAVE", password="a long password", **check)
        assert found.ok and found.user is not None and found.user.username == "dave"
        wrong = await authenticate(db, username="dave", password="wrong", **check)
        assert not wrong.ok and wrong.user is not None  # the account exists: events can say so
        unknown = await authenticate(db, username="eve", password="x", **check)
        assert not unknown.ok and unknown.user is None
        too_long = await authenticate(db, username="dave", password="x" * 1025, **check)
        assert not too_long.ok
    assert await look_up_user(get_database(app), "Ｄave") is not None


@pytest.mark.parametrize("username", ["ali\x00ce", "a" * 20000, "has space", ""])
async def test_names_nobody_could_register_are_not_looked_up(app: Quart, username: str) -> None:
    assert await look_up_user(get_database(app), username) is None


async def test_the_driver_lookup_reads_what_the_orm_does(app: Quart) -> None:
    async with await open_db(app) as db:
        await create_user(db, username="Dave", password="a long password", hasher=get_hasher(app))
        await db.commit()
        looked_up = await look_up_user(get_database(app), "ＤAVE")  # NFKC + casefold
        assert looked_up is not None
        stored = await get_user(db, looked_up.id)
    assert stored is not None
    for column in ("id", "username", "username_key", "password_hash", "created_at"):
        assert getattr(looked_up, column) == getattr(stored, column)
    assert looked_up.created_at.tzinfo is not None
    assert await look_up_user(get_database(app), "eve") is None
