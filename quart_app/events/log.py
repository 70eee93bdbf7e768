"""Security events (auth_events): what happened to an account, shown to its owner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum

from quart import request
from sqlalchemy import exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.core.clock import utcnow
from quart_app.core.database import get_db
from quart_app.events.models import AuthEvent
from quart_app.state import get_trusted_proxies
from quart_app.web.client_ip import client_ip

SHOWN_EVENTS = 50
USER_AGENT_MAX = 256


class EventKind(StrEnum):
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    LOGGED_OUT = "logged_out"
    REGISTERED = "registered"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105  (an event name, not a password)
    SESSION_REVOKED = "session_revoked"


_INSERT_EVENT = insert(AuthEvent)


async def add_event(db: AsyncSession, user_id: int, kind: EventKind) -> None:
    """Stage one event for this request's client in ``db``'s transaction (the caller commits)."""
    await db.execute(
        _INSERT_EVENT,
        {
            "user_id": user_id,
            "kind": kind.value,
            "created_at": utcnow(),
            "ip": client_ip(get_trusted_proxies())[:64],
            "user_agent": request.headers.get("User-Agent", "")[:USER_AGENT_MAX],
        },
    )


async def record_event(user_id: int, kind: EventKind) -> None:
    """Write one event for this request's client in a transaction of its own.

    An account deleted meanwhile has no history to add to: its foreign key refuses the row,
    and that is the end of it (a lost race, not a database outage).
    """
    db = get_db()
    await add_event(db, user_id, kind)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()


async def record_event_unless_recent(user_id: int, kind: EventKind, within: timedelta) -> bool:
    """Write the event unless the account has one of this kind younger than ``within``.

    For events an attacker can repeat at will (a throttled attempt costs them one request and
    is refused before any argon2 work): one line per interval, instead of one per attempt
    pushing the account's real history off the activity page. Returns whether it wrote.
    """
    db = get_db()
    seen = await db.scalar(
        select(
            exists().where(
                AuthEvent.user_id == user_id,
                AuthEvent.kind == kind.value,
                AuthEvent.created_at > utcnow() - within,
            )
        )
    )
    # End the read before writing: a SQLite read transaction cannot wait to become a writer.
    await db.commit()
    if seen:
        return False
    await record_event(user_id, kind)
    return True


async def recent_events(db: AsyncSession, user_id: int) -> Sequence[AuthEvent]:
    result = await db.execute(
        select(AuthEvent)
        .where(AuthEvent.user_id == user_id)
        .order_by(AuthEvent.created_at.desc(), AuthEvent.id.desc())
        .limit(SHOWN_EVENTS)
    )
    return result.scalars().all()
