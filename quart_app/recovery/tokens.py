"""One-time link tokens: issued as ``secrets.token_urlsafe(32)``, stored as their digest, used
up by one atomic DELETE (two concurrent uses: one wins), killed by what makes them moot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.core.clock import utcnow
from quart_app.core.tokens import new_session_token, token_digest
from quart_app.recovery.models import AccountToken, TokenPurpose

TOKEN_MAX_LENGTH = 64  # token_urlsafe(32) is 43 characters; anything longer is no token of ours
_TOKENS = AccountToken.__table__


@dataclass(frozen=True, slots=True)
class LiveToken:
    """What a valid token stands for."""

    user_id: int
    email: str | None
    created_at: datetime


async def issue_token(
    db: AsyncSession,
    *,
    user_id: int,
    purpose: TokenPurpose,
    lifetime: timedelta,
    email: str | None = None,
) -> str:
    """A new token for ``purpose``, ending the account's earlier ones of that purpose (only the
    newest link works). The caller commits, and mails the returned token: it is stored nowhere."""
    await kill_tokens(db, user_id=user_id, purpose=purpose)
    token = new_session_token()
    now = utcnow()
    await db.execute(
        insert(_TOKENS).values(
            digest=token_digest(token),
            user_id=user_id,
            purpose=purpose,
            email=email,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


async def kill_tokens(db: AsyncSession, *, user_id: int, purpose: TokenPurpose) -> None:
    """End every token of ``purpose`` the account has (a newer link, a password change)."""
    await db.execute(
        delete(_TOKENS).where(_TOKENS.c.user_id == user_id, _TOKENS.c.purpose == purpose)
    )


def _live(token: str, purpose: TokenPurpose) -> tuple[ColumnElement[bool], ...]:
    return (
        _TOKENS.c.digest == token_digest(token),
        _TOKENS.c.purpose == purpose,
        _TOKENS.c.expires_at > utcnow(),
    )


async def peek_token(db: AsyncSession, token: str, purpose: TokenPurpose) -> LiveToken | None:
    """The token's meaning if it is live, without using it up (the page a GET shows)."""
    if len(token) > TOKEN_MAX_LENGTH:
        return None
    row = (
        await db.execute(
            select(_TOKENS.c.user_id, _TOKENS.c.email, _TOKENS.c.created_at).where(
                *_live(token, purpose)
            )
        )
    ).first()
    return None if row is None else LiveToken(*row)


async def use_token(db: AsyncSession, token: str, purpose: TokenPurpose) -> LiveToken | None:
    """Use the token up: one DELETE … RETURNING, so of two concurrent uses exactly one gets
    the row. None when it is unknown, used, killed or expired. The caller commits."""
    if len(token) > TOKEN_MAX_LENGTH:
        return None
    row = (
        await db.execute(
            delete(_TOKENS)
            .where(*_live(token, purpose))
            .returning(_TOKENS.c.user_id, _TOKENS.c.email, _TOKENS.c.created_at)
        )
    ).first()
    return None if row is None else LiveToken(*row)


async def latest_token(
    db: AsyncSession, *, user_id: int, purpose: TokenPurpose
) -> LiveToken | None:
    """The account's live token of ``purpose`` (there is at most one), e.g. a pending address."""
    row = (
        await db.execute(
            select(_TOKENS.c.user_id, _TOKENS.c.email, _TOKENS.c.created_at)
            .where(
                _TOKENS.c.user_id == user_id,
                _TOKENS.c.purpose == purpose,
                _TOKENS.c.expires_at > utcnow(),
            )
            .order_by(_TOKENS.c.created_at.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else LiveToken(*row)


async def purge_expired_tokens(db: AsyncSession) -> int:
    result = await db.execute(delete(_TOKENS).where(_TOKENS.c.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
