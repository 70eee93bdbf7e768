"""Changing a signed-in user's password, one flow for the account page and the API.

The new hash, the end of every other session and token, and the event are staged in the
caller's ``db`` for one commit: the caller also keeps or rotates its own session in it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.models import User
from quart_app.accounts.users import replace_password_hash
from quart_app.events.log import EventKind, add_event
from quart_app.events.notices import queue_notice
from quart_app.recovery.models import RESET_PASSWORD
from quart_app.recovery.tokens import kill_tokens
from quart_app.sessions.store import revoke_other_sessions
from quart_app.state import get_hasher


async def stage_password_change(
    db: AsyncSession, user: User, new_password: str, *, keep_session_id: int
) -> int | None:
    """Stage ``user``'s new password (hashed off the event loop) and end every other session
    and API token; how many were ended. None, with nothing staged that should commit, when
    another change or a deletion committed since the current password was checked: the
    caller rolls back."""
    new_hash = await get_hasher().hash(new_password)
    if not await replace_password_hash(db, user, new_hash):
        return None
    ended = await revoke_other_sessions(db, user_id=user.id, keep_id=keep_session_id)
    await kill_tokens(db, user_id=user.id, purpose=RESET_PASSWORD)  # a mailed link dies too
    await add_event(db, user.id, EventKind.PASSWORD_CHANGED)
    if user.email:
        await queue_notice(db, "password_changed", to=user.email, username=user.username)
    return ended
