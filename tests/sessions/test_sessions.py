"""Server-side sessions: digest storage, expiry, throttled last_seen writes, revocation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from quart import Quart
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import quart_app.sessions.current_user as current_user_module
import quart_app.sessions.store as sessions_module
from quart_app.accounts.models import User
from quart_app.accounts.users import create_user
from quart_app.config import Settings
from quart_app.core.database import Database
from quart_app.core.tokens import token_digest
from quart_app.sessions.current_user import resolve_session
from quart_app.sessions.models import API, BROWSER, UserSession
from quart_app.sessions.store import (
    issue_session,
    list_user_sessions,
    new_session,
    revoke_session_token,
)
from quart_app.state import get_database, get_hasher, get_settings
from tests.support.clock import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(sessions_module, "utcnow", fake)
    monkeypatch.setattr(current_user_module, "utcnow", fake)
    return fake


@pytest.fixture
async def db(app: Quart) -> AsyncIterator[AsyncSession]:
    async with get_database(app).sessionmaker() as db:
        yield db


@pytest.fixture
def database(app: Quart) -> Database:
    return get_database(app)


@pytest.fixture
async def user(app: Quart, db: AsyncSession) -> User:
    created = await create_user(
        db, username="alice", password="a long password", hasher=get_hasher(app)
    )
    await db.commit()
    return created


@pytest.fixture
def settings(app: Quart) -> Settings:
    return get_settings(app)


async def issue(db: AsyncSession, user: User, settings: Settings, *, remember: bool = False) -> str:
    token, _ = await issue_session(
        db, user=user, remember=remember, user_agent="pytest", settings=settings
    )
    await db.commit()
    return token


async def stored_row(db: AsyncSession) -> UserSession:
    db.expire_all()
    return (await db.execute(select(UserSession))).scalar_one()


async def test_only_a_digest_of_the_token_is_stored(
    db: AsyncSession, user: User, settings: Settings
) -> None:
    token = await issue(db, user, settings)
    row = await stored_row(db)
    assert row.token_digest == token_digest(token) != token
    assert len(token) >= 43  # 32 random bytes, base64url
    assert token not in (row.token_digest, row.user_agent)


async def test_resolve_returns_session_with_user_fields(
    database: Database, db: AsyncSession, user: User, settings: Settings
) -> None:
    token = await issue(db, user, settings)
    signed_in = await resolve_session(database, token, settings)
    assert signed_in is not None
    assert signed_in.username == "alice" and signed_in.user_id == user.id
    assert await resolve_session(database, token + "x", settings) is None
    assert await resolve_session(database, "", settings) is None


async def test_idle_session_expires_and_row_is_deleted(
    database: Database, db: AsyncSession, user: User, settings: Settings, clock: Clock
) -> None:
    token = await issue(db, user, settings)
    clock.advance(seconds=settings.SESSION_IDLE_TIMEOUT - 1)
    assert await resolve_session(database, token, settings) is not None  # and touches last_seen
    clock.advance(seconds=settings.SESSION_IDLE_TIMEOUT - 1)
    assert await resolve_session(database, token, settings) is not None  # activity keeps it alive
    clock.advance(seconds=settings.SESSION_IDLE_TIMEOUT)
    assert await resolve_session(database, token, settings) is None
    db.expire_all()
    assert (await db.execute(select(UserSession))).first() is None


async def test_absolute_timeout_ends_even_an_active_session(
    database: Database, db: AsyncSession, user: User, settings: Settings, clock: Clock
) -> None:
    token = await issue(db, user, settings)
    step = settings.SESSION_IDLE_TIMEOUT // 2
    for _ in range(settings.SESSION_ABSOLUTE_TIMEOUT // step - 1):
        clock.advance(seconds=step)
        assert await resolve_session(database, token, settings) is not None
    clock.advance(seconds=2 * step)
    assert await resolve_session(database, token, settings) is None


async def test_remembered_session_survives_idle_but_not_its_duration(
    database: Database, db: AsyncSession, user: User, settings: Settings, clock: Clock
) -> None:
    token = await issue(db, user, settings, remember=True)
    clock.advance(days=29)
    assert await resolve_session(database, token, settings) is not None
    clock.advance(days=1, seconds=1)
    assert await resolve_session(database, token, settings) is None


async def test_last_seen_written_at_most_once_per_interval(
    database: Database, db: AsyncSession, user: User, settings: Settings, clock: Clock
) -> None:
    token = await issue(db, user, settings)
    issued_at = (await stored_row(db)).last_seen_at
    clock.advance(seconds=settings.SESSION_TOUCH_INTERVAL - 1)
    await resolve_session(database, token, settings)
    assert (await stored_row(db)).last_seen_at == issued_at
    clock.advance(seconds=2)
    await resolve_session(database, token, settings)
    assert (await stored_row(db)).last_seen_at == clock.now


async def test_revoke_deletes_the_row(
    database: Database, db: AsyncSession, user: User, settings: Settings
) -> None:
    token = await issue(db, user, settings)
    await revoke_session_token(db, token)
    await db.commit()  # services stage, the caller commits
    assert await resolve_session(database, token, settings) is None


async def test_deleting_user_deletes_sessions(
    database: Database, db: AsyncSession, user: User, settings: Settings
) -> None:
    token = await issue(db, user, settings)
    await db.delete(user)
    await db.commit()
    assert await resolve_session(database, token, settings) is None
    assert (await db.execute(select(UserSession))).first() is None


async def test_user_agent_is_truncated(db: AsyncSession, user: User, settings: Settings) -> None:
    await issue_session(db, user=user, remember=False, user_agent="x" * 5000, settings=settings)
    await db.commit()
    assert len((await stored_row(db)).user_agent) == 256


async def issue_token(db: AsyncSession, user: User, settings: Settings, name: str) -> str:
    new = new_session(
        user=user, remember=False, user_agent="script/1.0", settings=settings, kind=API, name=name
    )
    await db.execute(new.write.statement, new.write.values)
    await db.commit()
    return new.token


async def test_a_token_resolves_only_as_its_own_kind(
    database: Database, db: AsyncSession, user: User, settings: Settings
) -> None:
    """A cookie cannot carry an API token, nor a bearer header a browser's session id."""
    api_token = await issue_token(db, user, settings, "ci")
    browser_token = await issue(db, user, settings)
    assert await resolve_session(database, api_token, settings) is None
    assert await resolve_session(database, api_token, settings, API) is not None
    assert await resolve_session(database, browser_token, settings, API) is None
    assert await resolve_session(database, browser_token, settings, BROWSER) is not None


async def test_an_api_token_has_no_idle_timeout_and_lives_its_lifetime(
    database: Database, db: AsyncSession, user: User, settings: Settings, clock: Clock
) -> None:
    token = await issue_token(db, user, settings, "weekly job")
    clock.advance(seconds=settings.API_TOKEN_LIFETIME - 1)  # unused all that time
    assert await resolve_session(database, token, settings, API) is not None
    clock.advance(seconds=1)
    assert await resolve_session(database, token, settings, API) is None


async def test_sessions_and_tokens_are_listed_with_kind_and_name(
    db: AsyncSession, user: User, settings: Settings
) -> None:
    await issue_token(db, user, settings, "deploy bot")
    await issue(db, user, settings)
    listed = await list_user_sessions(db, user_id=user.id, current_id=0, settings=settings)
    assert sorted((item.kind, item.name) for item in listed) == [
        ("api", "deploy bot"),
        ("browser", None),
    ]
