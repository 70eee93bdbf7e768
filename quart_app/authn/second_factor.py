"""The second step of signing in to an account with two-factor on.

The password step (``authn.flow``) passed; instead of a session, the account gets a pending
sign-in for at most PENDING_LIFETIME, found by a random token the client holds (the browser in
its signed session cookie, a script as ``second_factor_token``). A current authenticator code
or an unused recovery code completes it once; each wrong one counts against the pending
sign-in (MAX_WRONG_CODES, then start again) and against the account across all of its pending
sign-ins (the throttle's SECOND_FACTOR_LIMIT), is an activity event, and the first of each
pending sign-in is a mailed notice: the password is known to someone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.models import User
from quart_app.accounts.users import get_user
from quart_app.authn.models import PendingSignIn
from quart_app.core.clock import utcnow
from quart_app.core.database import get_db
from quart_app.core.tokens import new_session_token, token_digest
from quart_app.events.log import EventKind, add_event
from quart_app.events.notices import queue_notice
from quart_app.metrics.instruments import count_login
from quart_app.mfa import recovery_codes, totp
from quart_app.mfa.authenticator import accept_code
from quart_app.sessions.models import SessionKind
from quart_app.sessions.store import revoke_all_sessions
from quart_app.state import get_secret_box, get_throttle
from quart_app.throttle.policy import Throttled

PENDING_LIFETIME = timedelta(minutes=5)
PENDING_SIGN_IN = "pending_sign_in"  # the browser's token, in its (signed) Quart session
MAX_WRONG_CODES = 5
TOKEN_MAX_LENGTH = 64
NEXT_PATH_MAX = 2048  # the column's width
_PENDING = PendingSignIn.__table__


@dataclass(frozen=True, slots=True)
class PendingStep:
    """What the completed sign-in will be."""

    user_id: int
    next_path: str | None
    remember: bool
    token_name: str | None


@dataclass(frozen=True, slots=True)
class SecondFactorPassed:
    user: User
    step: PendingStep
    recovery_code_used: bool


@dataclass(frozen=True, slots=True)
class SecondFactorRefused:
    attempts_left: int


@dataclass(frozen=True, slots=True)
class SecondFactorThrottled:
    retry_after_seconds: int


@dataclass(frozen=True, slots=True)
class SecondFactorAbandoned:
    """Too many wrong codes: the pending sign-in has ended; start again with the password."""


@dataclass(frozen=True, slots=True)
class NoPendingSignIn:
    """Unknown, expired, completed or abandoned."""


SecondFactorOutcome = (
    SecondFactorPassed
    | SecondFactorRefused
    | SecondFactorThrottled
    | SecondFactorAbandoned
    | NoPendingSignIn
)


async def begin_second_factor(
    db: AsyncSession,
    user: User,
    *,
    kind: SessionKind,
    next_path: str | None = None,
    remember: bool = False,
    token_name: str | None = None,
) -> str:
    """A pending sign-in for ``user``: the token the client must send back with its code.
    The caller commits."""
    token = new_session_token()
    now = utcnow()
    if next_path is not None and len(next_path) > NEXT_PATH_MAX:
        next_path = None  # no page of ours is that long: sign in to the default page
    await db.execute(
        insert(_PENDING).values(
            digest=token_digest(token),
            user_id=user.id,
            kind=kind,
            next_path=next_path,
            remember=remember,
            token_name=token_name,
            failures=0,
            created_at=now,
            expires_at=now + PENDING_LIFETIME,
        )
    )
    return token


def _live(token: str, kind: SessionKind) -> tuple[ColumnElement[bool], ...]:
    return (
        _PENDING.c.digest == token_digest(token),
        _PENDING.c.kind == kind,
        _PENDING.c.expires_at > utcnow(),
    )


async def pending_step(db: AsyncSession, token: str, kind: SessionKind) -> PendingStep | None:
    """The pending sign-in ``token`` stands for, if it is live."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    row = (
        await db.execute(
            select(
                _PENDING.c.user_id,
                _PENDING.c.next_path,
                _PENDING.c.remember,
                _PENDING.c.token_name,
            ).where(*_live(token, kind))
        )
    ).first()
    return None if row is None else PendingStep(*row)


async def check_second_factor(
    token: str, raw_code: str, *, kind: SessionKind
) -> SecondFactorOutcome:
    """Complete the pending sign-in with ``raw_code`` (an authenticator code or a recovery
    code), or count the failure. On success the pending sign-in is used up (of two concurrent
    successes one passes), and a recovery code's use ends every session of the account; the
    caller then starts the session or issues the token."""
    db = get_db()
    step = await pending_step(db, token, kind)
    await db.commit()  # end the read: a SQLite reader cannot wait to become a writer
    if step is None:
        return NoPendingSignIn()
    throttle = get_throttle()
    try:
        await throttle.check_second_factor(step.user_id)
    except Throttled as throttled:
        return SecondFactorThrottled(throttled.retry_after_seconds)
    recovery_code_used = False
    if (code := totp.normalise_code(raw_code)) is not None:
        passed = await accept_code(db, user_id=step.user_id, code=code, box=get_secret_box())
    else:
        passed = recovery_code_used = await recovery_codes.use_code(db, step.user_id, raw_code)
    if passed:
        return await complete_pending(db, token, kind, step, recovery_code_used=recovery_code_used)
    await db.rollback()
    return await _count_failure(db, token, kind, step)


async def complete_pending(
    db: AsyncSession,
    token: str,
    kind: SessionKind,
    step: PendingStep,
    *,
    recovery_code_used: bool = False,
) -> SecondFactorOutcome:
    """The second factor was right (a code, a recovery code, or a passkey checked by the
    caller on ``db``): use the pending sign-in up, once, and commit."""
    claimed = await db.execute(delete(_PENDING).where(*_live(token, kind)))
    user = await get_user(db, step.user_id)
    gone = user is None or user.locked_at is not None
    if not claimed.rowcount or gone:  # type: ignore[attr-defined]
        await db.rollback()  # another request completed it, or the account is gone or locked
        return NoPendingSignIn()
    if recovery_code_used:
        await revoke_all_sessions(db, user_id=user.id)
        await add_event(db, user.id, EventKind.RECOVERY_CODE_USED)
        if user.email:
            left = await recovery_codes.codes_left(db, user.id)
            await queue_notice(
                db, "recovery_code_used", to=user.email, username=user.username, codes_left=left
            )
    await db.commit()
    return SecondFactorPassed(user, step, recovery_code_used)


async def _count_failure(
    db: AsyncSession, token: str, kind: SessionKind, step: PendingStep
) -> SecondFactorOutcome:
    await get_throttle().record_second_factor_failure(step.user_id)
    count_login("second_factor_failed")
    failures = await db.scalar(
        update(_PENDING)
        .where(*_live(token, kind))
        .values(failures=_PENDING.c.failures + 1)
        .returning(_PENDING.c.failures)
    )
    user = await get_user(db, step.user_id)
    if failures is None or user is None:
        await db.rollback()
        return NoPendingSignIn()
    await add_event(db, user.id, EventKind.SECOND_FACTOR_FAILED)
    if failures == 1 and user.email:  # one notice per pending sign-in, not one per guess
        await queue_notice(db, "second_factor_failed", to=user.email, username=user.username)
    if failures >= MAX_WRONG_CODES:
        await db.execute(delete(_PENDING).where(_PENDING.c.digest == token_digest(token)))
        await db.commit()
        return SecondFactorAbandoned()
    await db.commit()
    return SecondFactorRefused(MAX_WRONG_CODES - failures)


async def end_pending_sign_ins(db: AsyncSession, user_id: int) -> None:
    """End every pending sign-in of the account (its second factor changed). The caller
    commits."""
    await db.execute(delete(_PENDING).where(_PENDING.c.user_id == user_id))


async def purge_pending_sign_ins(db: AsyncSession) -> int:
    result = await db.execute(delete(_PENDING).where(_PENDING.c.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
