"""Security events (auth_events): what happened to an account, shown to its owner."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from enum import StrEnum

from quart import request
from sqlalchemy import exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.core.clock import utcnow
from quart_app.core.hot_path import Write
from quart_app.events import security_log
from quart_app.events.models import AuthEvent
from quart_app.web.client_ip import request_ip

SHOWN_EVENTS = 50
USER_AGENT_MAX = 256  # the user_agent columns of events and sessions
IP_MAX = 64  # the ip columns of events and sessions


class EventKind(StrEnum):
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    LOGGED_OUT = "logged_out"
    REGISTERED = "registered"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105  (an event name, not a password)
    SESSION_REVOKED = "session_revoked"
    TOKEN_CREATED = "token_created"  # noqa: S105  (an API token was issued: the API's sign-in)
    TOKEN_REVOKED = "token_revoked"  # noqa: S105  (an API token was ended)
    PASSWORD_RESET = "password_reset"  # noqa: S105  (a reset link set a new password)
    EMAIL_CHANGED = "email_changed"  # a confirmed address was attached (or replaced another)
    TWO_FACTOR_ENABLED = "two_factor_enabled"
    TWO_FACTOR_DISABLED = "two_factor_disabled"
    TWO_FACTOR_RESET = "two_factor_reset"  # an operator turned it off (the reset-2fa command)
    RECOVERY_CODES_REPLACED = "recovery_codes_replaced"
    RECOVERY_CODE_USED = "recovery_code_used"
    SECOND_FACTOR_FAILED = "second_factor_failed"  # a wrong code after the right password
    PASSKEY_ADDED = "passkey_added"
    PASSKEY_REMOVED = "passkey_removed"
    ACCOUNT_LOCKED = "account_locked"  # by an operator (users lock)
    ACCOUNT_UNLOCKED = "account_unlocked"
    LOGIN_LOCKED = "login_locked"  # the right credentials for a locked account: refused


_INSERT_EVENT = insert(AuthEvent.__table__)  # Core, not the ORM's bulk path (sessions.store)


def request_user_agent() -> str:
    """This request's User-Agent, cut to the columns' length: what events and sessions store,
    and what notices and the new-browser check compare."""
    return request.headers.get("User-Agent", "")[:USER_AGENT_MAX]


def event_write(user_id: int, kind: EventKind) -> Write:
    """The insert of one event for this request's client (``Database.commit_together``)."""
    values = {
        "user_id": user_id,
        "kind": kind.value,
        "created_at": utcnow(),
        "ip": request_ip()[:IP_MAX],
        "user_agent": request_user_agent(),
    }
    return Write(_INSERT_EVENT, values)


async def add_operator_event(db: AsyncSession, user_id: int, kind: EventKind, command: str) -> None:
    """Stage an event an operator's command caused (the caller commits): there is no request,
    so the event names the command where a browser would be."""
    values = {
        "user_id": user_id,
        "kind": kind.value,
        "created_at": utcnow(),
        "ip": "",
        "user_agent": f"operator: the {command} command"[:USER_AGENT_MAX],
    }
    await stage_event(db, Write(_INSERT_EVENT, values))


async def add_event(db: AsyncSession, user_id: int, kind: EventKind) -> None:
    """Stage one event for this request's client in ``db``'s transaction (the caller commits)."""
    await stage_event(db, event_write(user_id, kind))


async def stage_event(db: AsyncSession, write: Write) -> None:
    """An event's insert in ``db``'s transaction; its log line is written once that commits."""
    await db.execute(write.statement, write.values)
    security_log.stage(db, write.values)


def log_committed(writes: Iterable[Write]) -> None:
    """Log the events among ``writes``, a hot-path transaction that has just committed."""
    for write in writes:
        if write.statement is _INSERT_EVENT:
            security_log.log_event(write.values)


async def has_recent_event(
    db: AsyncSession, user_id: int, kind: EventKind, within: timedelta
) -> bool:
    """Whether the account has an event of this kind younger than ``within``."""
    query = select(
        exists().where(
            AuthEvent.user_id == user_id,
            AuthEvent.kind == kind.value,
            AuthEvent.created_at > utcnow() - within,
        )
    )
    return bool(await db.scalar(query))


async def recent_events(db: AsyncSession, user_id: int) -> Sequence[AuthEvent]:
    result = await db.execute(
        select(AuthEvent)
        .where(AuthEvent.user_id == user_id)
        .order_by(AuthEvent.created_at.desc(), AuthEvent.id.desc())
        .limit(SHOWN_EVENTS)
    )
    return result.scalars().all()
