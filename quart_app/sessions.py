"""Server-side sessions: issue, resolve, touch and revoke rows; the AuthUser quart-auth resolves.

The cookie carries only a signed random id. The row it points at is what makes a session valid,
so logout, expiry and revocation take effect at once even for a copied cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from quart import current_app
from quart_auth import Action, AuthUser, current_user, login_user, logout_user
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.config import Settings
from quart_app.db import DATABASE_ERRORS, get_db
from quart_app.models import User, UserSession, utcnow

USER_AGENT_MAX = 256


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A live session and the few user fields pages need, from one query."""

    id: int
    user_id: int
    username: str
    user_created_at: datetime
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    remember: bool


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 of the token: what the database stores, so a leaked table holds no live sessions.

    A fast hash suffices: the token has 256 random bits, nothing to brute-force.
    """
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_session(
    db: AsyncSession, *, user: User, remember: bool, user_agent: str, settings: Settings
) -> tuple[str, ActiveSession]:
    """Add a new session row for ``user`` (the caller commits); return its token and view."""
    token = new_session_token()
    now = utcnow()
    lifetime = settings.SESSION_REMEMBER_DURATION if remember else settings.SESSION_ABSOLUTE_TIMEOUT
    row = UserSession(
        token_digest=token_digest(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=lifetime),
        remember=remember,
        user_agent=user_agent[:USER_AGENT_MAX],
    )
    db.add(row)
    await db.flush()
    return token, ActiveSession(
        id=row.id,
        user_id=user.id,
        username=user.username,
        user_created_at=user.created_at,
        created_at=now,
        last_seen_at=now,
        expires_at=row.expires_at,
        remember=remember,
    )


def is_expired(session: ActiveSession, now: datetime, settings: Settings) -> bool:
    """Absolute expiry for every session; the idle timeout for those not remembered."""
    if now >= session.expires_at:
        return True
    idle_limit = timedelta(seconds=settings.SESSION_IDLE_TIMEOUT)
    return not session.remember and now - session.last_seen_at >= idle_limit


_RESOLVE = (
    select(
        UserSession.id,
        UserSession.user_id,
        User.username,
        User.created_at,
        UserSession.created_at,
        UserSession.last_seen_at,
        UserSession.expires_at,
        UserSession.remember,
    )
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.token_digest == bindparam("digest"))
)


async def resolve_session(db: AsyncSession, token: str, settings: Settings) -> ActiveSession | None:
    """The live session behind ``token``, or None. One indexed query on the hot path.

    An expired row is deleted on sight. ``last_seen_at`` is written at most once per
    SESSION_TOUCH_INTERVAL, and only if no other worker wrote it meanwhile.
    """
    row = (await db.execute(_RESOLVE, {"digest": token_digest(token)})).one_or_none()
    if row is None:
        return None
    session = ActiveSession(*row)
    now = utcnow()
    if is_expired(session, now, settings):
        await db.commit()  # end the read before writing: SQLite then waits for the lock
        await revoke_session_by_id(db, session.id)
        return None
    stale_before = now - timedelta(seconds=settings.SESSION_TOUCH_INTERVAL)
    if session.last_seen_at <= stale_before:
        await db.commit()
        await db.execute(
            update(UserSession)
            .where(UserSession.id == session.id, UserSession.last_seen_at <= stale_before)
            .values(last_seen_at=now)
        )
        await db.commit()
    return session


async def revoke_session_by_id(db: AsyncSession, session_id: int) -> None:
    await db.execute(delete(UserSession).where(UserSession.id == session_id))
    await db.commit()


async def revoke_session_token(db: AsyncSession, token: str) -> None:
    await db.execute(delete(UserSession).where(UserSession.token_digest == token_digest(token)))
    await db.commit()


class SessionUser(AuthUser):
    """quart-auth's user: ``auth_id`` is the session token, resolved lazily, once per request.

    ``is_authenticated`` is an async property: always ``await`` it (a bare coroutine is truthy).
    """

    def __init__(
        self,
        auth_id: str | None,
        action: Action = Action.PASS,
        session: ActiveSession | None = None,
    ) -> None:
        super().__init__(auth_id, action)
        self._session = session
        self._resolved = session is not None or auth_id is None

    async def load(self) -> ActiveSession | None:
        if not self._resolved:
            # Marked first: if the database fails, the error propagates once (a 503 page) and
            # that page then renders as signed out instead of failing the same way again.
            self._resolved = True
            settings: Settings = current_app.extensions["settings"]
            self._session = await resolve_session(get_db(), self.auth_id or "", settings)
            if self._session is None and self.action is Action.PASS:
                self.action = Action.DELETE  # a dead session's cookie is cleared from the browser
        return self._session

    @property
    async def is_authenticated(self) -> bool:
        return await self.load() is not None


async def start_session(user: User, *, remember: bool, user_agent: str) -> None:
    """Sign ``user`` in with a fresh session id (never a reused one: no session fixation).

    A session this browser already had is revoked: switching accounts leaves no live row behind.
    """
    db = get_db()
    if current_user.auth_id is not None:
        await revoke_session_token(db, current_user.auth_id)
    token, session = await issue_session(
        db,
        user=user,
        remember=remember,
        user_agent=user_agent,
        settings=current_app.extensions["settings"],
    )
    await db.commit()
    login_user(SessionUser(token, session=session), remember=remember)


async def end_session(user: AuthUser) -> None:
    """Delete the session row, so a copy of the cookie signs nobody in, and clear the cookie."""
    if user.auth_id is not None:
        await revoke_session_token(get_db(), user.auth_id)
    logout_user()


async def current_session_context() -> dict[str, ActiveSession | None]:
    """Template context: ``viewer`` is the signed-in session, or None.

    Resolved here, awaited, so templates never touch the async ``is_authenticated``. A database
    failure renders the page as signed out; the view that needs the session raises it properly.
    """
    try:
        viewer = await current_user.load()
    except DATABASE_ERRORS:
        viewer = None
    return {"viewer": viewer}
