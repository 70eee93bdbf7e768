"""Server-side session rows: issue, find, touch, list, rotate, revoke and purge; none commits
(a sign-in hands its writes to ``Database.commit_together``, which commits them at once).

The cookie carries only a signed random id. The row it points at is what makes a session valid,
so logout, expiry and revocation take effect at once even for a copied cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from quart_app.accounts.models import User
from quart_app.config import Settings
from quart_app.core.clock import utcnow
from quart_app.core.database import Database
from quart_app.core.hot_path import Write, as_utc
from quart_app.core.tokens import new_session_token, token_digest
from quart_app.events.log import IP_MAX, USER_AGENT_MAX, EventKind
from quart_app.sessions.models import API, BROWSER, SessionKind, UserSession


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who is signed in: a live session row and the few user fields pages need, from one query
    (not the ``UserSession`` row itself, nor Quart's cookie ``session``)."""

    id: int
    user_id: int
    username: str
    user_created_at: datetime
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    remember: bool


# Core inserts on the table, not the ORM entity: the ORM's bulk-insert path cost about 0.5 ms more
# per login (measured in process, the session and event inserts and their commit together).
_INSERT_SESSION = insert(UserSession.__table__).returning(UserSession.__table__.c.id)
_DELETE_BY_DIGEST = delete(UserSession.__table__).where(
    UserSession.__table__.c.token_digest == bindparam("digest")
)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session row about to be written: its token (for the cookie, never stored) and the
    insert, which returns the row's id."""

    token: str
    write: Write
    user: User
    remember: bool

    def signed_in(self, session_id: int) -> SignedIn:
        """What the request knows once the row is written, without reading it back."""
        values = self.write.values
        return SignedIn(
            id=session_id,
            user_id=self.user.id,
            username=self.user.username,
            user_created_at=self.user.created_at,
            created_at=values["created_at"],
            last_seen_at=values["last_seen_at"],
            expires_at=values["expires_at"],
            remember=self.remember,
        )


def new_session(
    *,
    user: User,
    remember: bool,
    user_agent: str,
    settings: Settings,
    ip: str = "",
    kind: SessionKind = BROWSER,
    name: str | None = None,
) -> NewSession:
    """A fresh random token for ``user`` and the row that makes it valid, not yet written.

    An API token (``kind`` "api", with the ``name`` its owner gave it) lives API_TOKEN_LIFETIME
    and, like a remembered browser, has no idle timeout.
    """
    token = new_session_token()
    now = utcnow()
    if kind == API:
        lifetime, remember = settings.API_TOKEN_LIFETIME, True
    elif remember:
        lifetime = settings.SESSION_REMEMBER_DURATION
    else:
        lifetime = settings.SESSION_ABSOLUTE_TIMEOUT
    values = {
        "token_digest": token_digest(token),
        "user_id": user.id,
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + timedelta(seconds=lifetime),
        "remember": remember,
        "user_agent": user_agent[:USER_AGENT_MAX],
        "ip": ip[:IP_MAX],
        "kind": kind,
        "name": name,
    }
    return NewSession(token, Write(_INSERT_SESSION, values), user, remember)


async def issue_session(
    db: AsyncSession,
    *,
    user: User,
    remember: bool,
    user_agent: str,
    settings: Settings,
    ip: str = "",
) -> tuple[str, SignedIn]:
    """Add a new session row for ``user`` in ``db`` (the caller commits); its token and view.
    A sign-in writes through ``new_session`` and ``Database.commit_together`` instead."""
    new = new_session(user=user, remember=remember, user_agent=user_agent, settings=settings, ip=ip)
    session_id = (await db.execute(new.write.statement, new.write.values)).scalar_one()
    return new.token, new.signed_in(session_id)


class SessionTimes(Protocol):
    """What expiry looks at: a SignedIn and a UserSession row both have it."""

    @property
    def last_seen_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def remember(self) -> bool: ...


def is_expired(times: SessionTimes, now: datetime, settings: Settings) -> bool:
    """Absolute expiry for every session; the idle timeout for those not remembered."""
    if now >= times.expires_at:
        return True
    idle_limit = timedelta(seconds=settings.SESSION_IDLE_TIMEOUT)
    return not times.remember and now - times.last_seen_at >= idle_limit


# Plain table columns, not ORM attributes: compiled once for the dialect, run on the driver.
_USERS, _SESSIONS = User.__table__, UserSession.__table__
_RESOLVE = (
    select(
        _SESSIONS.c.id,
        _SESSIONS.c.user_id,
        _USERS.c.username,
        _USERS.c.created_at,
        _SESSIONS.c.created_at,
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.expires_at,
        _SESSIONS.c.remember,
    )
    .join(_USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.token_digest == bindparam("digest"), _SESSIONS.c.kind == bindparam("kind"))
)


async def look_up_session(
    database: Database, token: str, kind: SessionKind = BROWSER
) -> SignedIn | None:
    """The session row of ``kind`` behind ``token`` and its user's few fields, expired or not:
    one indexed query, the one every signed-in page makes, straight on the driver
    (``core.hot_path``), outside any transaction. A row of the other kind is not found: a
    cookie cannot carry an API token, nor an Authorization header a browser's session."""
    row = await database.read_one(_RESOLVE, {"digest": token_digest(token), "kind": kind})
    if row is None:
        return None
    session_id, user_id, username, user_created, created, last_seen, expires, remember = row
    return SignedIn(
        id=session_id,
        user_id=user_id,
        username=username,
        user_created_at=as_utc(user_created),
        created_at=as_utc(created),
        last_seen_at=as_utc(last_seen),
        expires_at=as_utc(expires),
        remember=bool(remember),
    )


def needs_touch(signed_in: SignedIn, now: datetime, settings: Settings) -> bool:
    """Whether ``last_seen_at`` is older than SESSION_TOUCH_INTERVAL: a write per request would
    serialise SQLite."""
    return signed_in.last_seen_at <= now - timedelta(seconds=settings.SESSION_TOUCH_INTERVAL)


async def touch_session(
    db: AsyncSession | AsyncConnection,
    signed_in: SignedIn,
    now: datetime,
    settings: Settings,
    ip: str | None = None,
) -> None:
    """Set ``last_seen_at`` to ``now`` (and the address it was seen from, when given), unless
    another worker touched it meanwhile."""
    stale_before = now - timedelta(seconds=settings.SESSION_TOUCH_INTERVAL)
    seen = {"last_seen_at": now} if ip is None else {"last_seen_at": now, "ip": ip[:IP_MAX]}
    await db.execute(
        update(UserSession)
        .where(UserSession.id == signed_in.id, UserSession.last_seen_at <= stale_before)
        .values(**seen)
    )


async def delete_session(db: AsyncSession | AsyncConnection, session_id: int) -> None:
    await db.execute(delete(UserSession).where(UserSession.id == session_id))


def revoke_session_token_write(token: str) -> Write:
    """The delete that ends the session behind ``token``, if it has one."""
    return Write(_DELETE_BY_DIGEST, {"digest": token_digest(token)})


async def revoke_session_token(db: AsyncSession, token: str) -> None:
    write = revoke_session_token_write(token)
    await db.execute(write.statement, write.values)


@dataclass(frozen=True, slots=True)
class SessionListing:
    """A row of the "your sessions" page."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    remember: bool
    user_agent: str
    ip: str
    current: bool
    kind: str
    name: str | None


async def list_user_sessions(
    db: AsyncSession, *, user_id: int, current_id: int, settings: Settings
) -> list[SessionListing]:
    """The user's live sessions: this one first, then the most recently seen (expired rows are
    left to the purge)."""
    rows = (
        await db.execute(
            select(UserSession)
            .where(UserSession.user_id == user_id)
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    ).scalars()
    now = utcnow()
    listings = []
    for row in rows:
        if not is_expired(row, now, settings):
            listings.append(
                SessionListing(
                    id=row.id,
                    created_at=row.created_at,
                    last_seen_at=row.last_seen_at,
                    expires_at=row.expires_at,
                    remember=row.remember,
                    user_agent=row.user_agent,
                    ip=row.ip,
                    current=row.id == current_id,
                    kind=row.kind,
                    name=row.name,
                )
            )
    listings.sort(key=lambda listing: not listing.current)  # stable: recency order otherwise
    return listings


async def revoke_user_session(
    db: AsyncSession, *, user_id: int, session_id: int
) -> SessionKind | None:
    """End one of the user's sessions or tokens: its kind, or None when no such session is
    theirs (another user's is never ended, nor revealed)."""
    result = await db.execute(
        delete(UserSession)
        .where(UserSession.id == session_id, UserSession.user_id == user_id)
        .returning(UserSession.kind)
    )
    kind = result.scalar_one_or_none()
    return API if kind == API else BROWSER if kind is not None else None


def ended_event(kind: SessionKind) -> EventKind:
    """What the activity page calls the end of a session of ``kind``."""
    return EventKind.TOKEN_REVOKED if kind == API else EventKind.SESSION_REVOKED


async def revoke_other_sessions(db: AsyncSession, *, user_id: int, keep_id: int) -> int:
    """End every session of the user but ``keep_id``; the caller commits. Returns how many."""
    result = await db.execute(
        delete(UserSession).where(UserSession.user_id == user_id, UserSession.id != keep_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def revoke_all_sessions(db: AsyncSession, *, user_id: int) -> int:
    """End every session and API token of the user (a password reset); the caller commits."""
    result = await db.execute(delete(UserSession).where(UserSession.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def rotate_session_token(db: AsyncSession, session_id: int) -> str:
    """Give a session a new id (after re-authentication); the caller commits."""
    token = new_session_token()
    await db.execute(
        update(UserSession)
        .where(UserSession.id == session_id)
        .values(token_digest=token_digest(token))
    )
    return token


async def purge_expired_sessions(db: AsyncSession, settings: Settings) -> int:
    """Delete rows past their absolute expiry, or idle too long without "remember me"."""
    now = utcnow()
    idle_cutoff = now - timedelta(seconds=settings.SESSION_IDLE_TIMEOUT)
    result = await db.execute(
        delete(UserSession).where(
            (UserSession.expires_at <= now)
            | ((UserSession.remember.is_(False)) & (UserSession.last_seen_at <= idle_cutoff))
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
