"""What an operator does to an account's second factors from the command line: turn them off
for a person who lost every one (once verified by other means), and re-encrypt the secrets
after a key rotation. No request exists here, so the event names the command, not a browser."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.models import User
from quart_app.authn.second_factor import end_pending_sign_ins
from quart_app.events.log import EventKind, add_operator_event
from quart_app.mfa.authenticator import turn_off
from quart_app.mfa.passkeys import delete_passkeys
from quart_app.sessions.store import revoke_all_sessions


async def reset_two_factor(db: AsyncSession, user: User) -> int:
    """Two-factor off for ``user``: the app's secret, the recovery codes, the passkeys,
    pending sign-ins and every session and API token end; the event is recorded. The caller
    commits. How many sessions were ended."""
    await turn_off(db, user.id)
    await delete_passkeys(db, user.id)
    await end_pending_sign_ins(db, user.id)
    ended = await revoke_all_sessions(db, user_id=user.id)
    await add_operator_event(db, user.id, EventKind.TWO_FACTOR_RESET, "reset-2fa")
    return ended
