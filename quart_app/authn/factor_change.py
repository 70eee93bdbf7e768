"""What every change of an account's second factors does, wherever it is made: the other
sessions and any pending sign-in end (whoever held them signed in under the old factors),
the event, the mailed notice, and a new id for the session that made the change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.models import User
from quart_app.authn.second_factor import end_pending_sign_ins
from quart_app.authn.sign_in import resume_session
from quart_app.events.log import EventKind, add_event
from quart_app.events.notices import queue_notice
from quart_app.sessions.store import SignedIn, revoke_other_sessions, rotate_session_token

# The notice each change mails to the confirmed address.
NOTICES = {
    EventKind.TWO_FACTOR_ENABLED: "two_factor_enabled",
    EventKind.TWO_FACTOR_DISABLED: "two_factor_disabled",
    EventKind.RECOVERY_CODES_REPLACED: "recovery_codes_replaced",
    EventKind.PASSKEY_ADDED: "passkey_added",
    EventKind.PASSKEY_REMOVED: "passkey_removed",
}


async def finish_factor_change(
    db: AsyncSession, active: SignedIn, user: User, event: EventKind, **notice: object
) -> int:
    """Stage all of it on ``db`` and commit once; resume this session under its new id. How
    many other sessions were ended. ``notice`` fills the mail's template."""
    ended = await revoke_other_sessions(db, user_id=user.id, keep_id=active.id)
    await end_pending_sign_ins(db, user.id)
    await add_event(db, user.id, event)
    if user.email:
        await queue_notice(db, NOTICES[event], to=user.email, username=user.username, **notice)
    token = await rotate_session_token(db, active.id)
    await db.commit()
    resume_session(token, active)
    return ended
