"""What an operator sees of accounts and does to them from the command line (``users …``):
a summary of each, locking (no sign-in of any kind, every session and token ended), unlocking
(its failed-sign-in counters forgiven too), and ending its sessions. Every action is on the
account's activity page, named after the command."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.models import User
from quart_app.authn.second_factor import end_pending_sign_ins
from quart_app.core.clock import utcnow
from quart_app.events.log import EventKind, add_operator_event
from quart_app.events.models import AuthEvent
from quart_app.mfa.models import Passkey, RecoveryCode
from quart_app.sessions.models import UserSession
from quart_app.sessions.store import revoke_all_sessions


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """What ``users list`` and ``users show`` print: never a hash, a secret or a token."""

    id: int
    username: str
    created_at: datetime
    last_sign_in: datetime | None
    sessions: int
    email: str | None
    two_factor: bool
    recovery_codes_left: int
    passkeys: int
    locked_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in values.items()
        }


def _count(model: type[Any]) -> Any:
    return (
        select(func.count())
        .select_from(model)
        .where(model.user_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )


async def account_summaries(db: AsyncSession, user_id: int | None = None) -> list[AccountSummary]:
    """Every account (or the one with ``user_id``), by id, in one query."""
    last_sign_in = (
        select(func.max(AuthEvent.created_at))
        .where(AuthEvent.user_id == User.id, AuthEvent.kind == EventKind.LOGIN_SUCCEEDED.value)
        .correlate(User)
        .scalar_subquery()
    )
    query = select(
        User.id,
        User.username,
        User.created_at,
        last_sign_in,
        _count(UserSession),
        User.email,
        User.two_factor_since.is_not(None),
        _count(RecoveryCode),
        _count(Passkey),
        User.locked_at,
    ).order_by(User.id)
    if user_id is not None:
        query = query.where(User.id == user_id)
    rows = (await db.execute(query)).all()
    return [AccountSummary(*_aware(row)) for row in rows]


def _aware(row: Any) -> list[Any]:
    """SQLite hands a subquery's timestamp back naive (and as text): make it aware UTC."""
    values = list(row)
    value = values[3]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=utcnow().tzinfo)
    values[3] = value
    return values


async def lock_account(db: AsyncSession, user: User) -> int | None:
    """Lock the account and end every session, token and pending sign-in; how many sessions
    ended, or None if it was locked already. The caller commits."""
    locked = await db.execute(
        update(User).where(User.id == user.id, User.locked_at.is_(None)).values(locked_at=utcnow())
    )
    if not locked.rowcount:  # type: ignore[attr-defined]
        return None
    ended = await revoke_all_sessions(db, user_id=user.id)
    await end_pending_sign_ins(db, user.id)
    await add_operator_event(db, user.id, EventKind.ACCOUNT_LOCKED, "users lock")
    return ended


async def unlock_account(db: AsyncSession, user: User) -> bool:
    """Unlock the account; whether it was locked. The caller commits, then forgives the
    account's throttle counters."""
    unlocked = await db.execute(
        update(User).where(User.id == user.id, User.locked_at.is_not(None)).values(locked_at=None)
    )
    if not unlocked.rowcount:  # type: ignore[attr-defined]
        return False
    await add_operator_event(db, user.id, EventKind.ACCOUNT_UNLOCKED, "users unlock")
    return True


async def end_sessions(db: AsyncSession, user: User) -> int:
    """End every session and API token of the account; how many. The caller commits."""
    ended = await revoke_all_sessions(db, user_id=user.id)
    await end_pending_sign_ins(db, user.id)
    if ended:
        await add_operator_event(db, user.id, EventKind.SESSION_REVOKED, "users revoke-sessions")
    return ended
