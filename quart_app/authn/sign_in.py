"""Signing in once the password step has passed: a fresh session row, its event, the cookie."""

from __future__ import annotations

from quart_auth import current_user, login_user
from sqlalchemy.exc import IntegrityError

from quart_app.accounts.models import User
from quart_app.core.database import get_db
from quart_app.events.log import EventKind, add_event
from quart_app.sessions.current_user import SessionUser
from quart_app.sessions.store import SignedIn, issue_session, revoke_session_token
from quart_app.state import get_settings


class AccountGone(Exception):
    """The account was deleted while it was signing in: to the user, an ordinary failed login."""


async def start_session(user: User, *, remember: bool, user_agent: str, event: EventKind) -> None:
    """Sign ``user`` in with a fresh session id (never a reused one: no session fixation).

    The session row and the security event are one transaction (one commit on the login hot
    path). A session this browser already had is revoked in it: switching accounts leaves no
    live row behind. Raises AccountGone when the account was deleted meanwhile (its row's
    foreign key refuses the session): a lost race, not a database outage.
    """
    db = get_db()
    if current_user.auth_id is not None:
        await revoke_session_token(db, current_user.auth_id)
    try:
        token, signed_in = await issue_session(
            db, user=user, remember=remember, user_agent=user_agent, settings=get_settings()
        )
        await add_event(db, user.id, event)
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise AccountGone() from None
    login_user(SessionUser(token, signed_in=signed_in), remember=remember)


def resume_session(token: str, signed_in: SignedIn) -> None:
    """Reissue the cookie for a session whose id was rotated (same row, new token)."""
    login_user(SessionUser(token, signed_in=signed_in), remember=signed_in.remember)
