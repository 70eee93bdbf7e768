"""quart-auth's user, resolved from the server-side session; signing in and out."""

from __future__ import annotations

from quart_auth import Action, AuthUser, current_user, login_user
from sqlalchemy.exc import IntegrityError

from quart_app.accounts.models import User
from quart_app.core.database import DATABASE_ERRORS, get_db
from quart_app.events.log import EventKind, add_event
from quart_app.sessions.store import (
    ActiveSession,
    issue_session,
    resolve_session,
    revoke_session_token,
)
from quart_app.state import get_database, get_settings


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
            settings = get_settings()
            # A bare connection, not the request's ORM session: this runs on every signed-in
            # request, and the ORM layers would be most of its cost.
            async with get_database().connect() as connection:
                self._session = await resolve_session(connection, self.auth_id or "", settings)
            if self._session is None and self.action is Action.PASS:
                self.action = Action.DELETE  # a dead session's cookie is cleared from the browser
        return self._session

    @property
    async def is_authenticated(self) -> bool:
        return await self.load() is not None


class AccountGone(Exception):
    """The account was deleted while it was signing in: to the user, an ordinary failed login."""


async def start_session(user: User, *, remember: bool, user_agent: str, event: EventKind) -> None:
    """Sign ``user`` in with a fresh session id (never a reused one: no session fixation).

    The session row and the security event are written in one transaction (one commit on the
    login hot path). A session this browser already had is revoked: switching accounts leaves
    no live row behind. Raises AccountGone when the account was deleted meanwhile (its row's
    foreign key refuses the session): a lost race, not a database outage.
    """
    db = get_db()
    if current_user.auth_id is not None:
        await revoke_session_token(db, current_user.auth_id)
    try:
        token, session = await issue_session(
            db,
            user=user,
            remember=remember,
            user_agent=user_agent,
            settings=get_settings(),
        )
        await add_event(db, user.id, event)
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise AccountGone() from None
    login_user(SessionUser(token, session=session), remember=remember)


def resume_session(token: str, session: ActiveSession) -> None:
    """Reissue the cookie for a session whose id was rotated (same row, new token)."""
    login_user(SessionUser(token, session=session), remember=session.remember)


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
