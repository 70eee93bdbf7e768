"""An account's authenticator app: enrolment (a secret shown, confirmed by a first code),
accepting a code once, and turning two-factor off.

Secrets are sealed with the app's SecretBox before they reach the database. Accepting a code
moves the account's ``last_step`` forward with a compare-and-set, so a code (or an earlier
one) presented twice, even by two requests at once, is accepted at most once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.models import User
from quart_app.core.clock import utcnow
from quart_app.mfa import totp
from quart_app.mfa.encryption import InvalidToken, SecretBox
from quart_app.mfa.models import TotpCredential, TotpEnrolment
from quart_app.mfa.recovery_codes import delete_codes

log = logging.getLogger(__name__)
# How long the enrolment page's secret waits for its first code.
ENROLMENT_LIFETIME = timedelta(minutes=15)
_CREDENTIALS = TotpCredential.__table__
_ENROLMENTS = TotpEnrolment.__table__
_USERS = User.__table__


def _open(box: SecretBox, sealed: str, user_id: int) -> str | None:
    """The secret, or None (logged) when no key opens it: a key was dropped before
    ``rotate-mfa-keys`` re-encrypted under the new one. The account's codes then fail like
    wrong ones; its recovery codes and passkeys still work."""
    try:
        return box.open(sealed)
    except InvalidToken:
        log.error(
            "the authenticator-app secret of account %d opens with none of the keys: "
            "put the key it was sealed with back into MFA_ENCRYPTION_KEYS",
            user_id,
        )
        return None


async def _pending_secret(
    db: AsyncSession, session_id: int, user_id: int, now: datetime
) -> str | None:
    """The sealed secret of this session's live enrolment, if there is one."""
    return await db.scalar(
        select(_ENROLMENTS.c.secret).where(
            _ENROLMENTS.c.session_id == session_id,
            _ENROLMENTS.c.user_id == user_id,
            _ENROLMENTS.c.expires_at > now,
        )
    )


async def enrolment_secret(
    db: AsyncSession, *, session_id: int, user_id: int, box: SecretBox
) -> str:
    """The secret this session's enrolment page shows: the pending one if it is still live
    (a reload shows the same QR code), else a new one. The caller commits."""
    now = utcnow()
    sealed = await _pending_secret(db, session_id, user_id, now)
    if sealed is not None and (secret := _open(box, sealed, user_id)) is not None:
        return secret
    secret = totp.new_secret()
    await db.execute(delete(_ENROLMENTS).where(_ENROLMENTS.c.session_id == session_id))
    await db.execute(
        insert(_ENROLMENTS).values(
            session_id=session_id,
            user_id=user_id,
            secret=box.seal(secret),
            expires_at=now + ENROLMENT_LIFETIME,
        )
    )
    return secret


async def confirm_enrolment(
    db: AsyncSession, *, session_id: int, user_id: int, code: str, box: SecretBox
) -> bool:
    """Turn two-factor on if ``code`` is the pending secret's current code (that code then
    counts as used). False for a wrong code, no live enrolment, or two-factor already on.
    The caller commits; on False it must roll back."""
    now = utcnow()
    sealed = await _pending_secret(db, session_id, user_id, now)
    if sealed is None or (secret := _open(box, sealed, user_id)) is None:
        return False
    step = totp.matching_step(secret, code, now=now, after_step=-1)
    if step is None:
        return False
    turned_on = await db.execute(
        update(_USERS)
        .where(_USERS.c.id == user_id, _USERS.c.two_factor_since.is_(None))
        .values(two_factor_since=now)
    )
    if not turned_on.rowcount:  # type: ignore[attr-defined]  # on already (another request)
        return False
    try:
        await db.execute(
            insert(_CREDENTIALS).values(
                user_id=user_id, secret=box.seal(secret), last_step=step, created_at=now
            )
        )
    except IntegrityError:
        return False
    await db.execute(delete(_ENROLMENTS).where(_ENROLMENTS.c.user_id == user_id))
    return True


async def accept_code(db: AsyncSession, *, user_id: int, code: str, box: SecretBox) -> bool:
    """Whether ``code`` is a current code of the account's app not used before; if so it is
    now used (its step recorded). The caller commits."""
    row = (
        await db.execute(
            select(_CREDENTIALS.c.secret, _CREDENTIALS.c.last_step).where(
                _CREDENTIALS.c.user_id == user_id
            )
        )
    ).first()
    if row is None:
        return False
    sealed, last_step = row
    if (secret := _open(box, sealed, user_id)) is None:
        return False
    step = totp.matching_step(secret, code, now=utcnow(), after_step=last_step)
    if step is None:
        return False
    moved = await db.execute(
        update(_CREDENTIALS)
        .where(_CREDENTIALS.c.user_id == user_id, _CREDENTIALS.c.last_step < step)
        .values(last_step=step)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]  # 0: another request used it


async def turn_off(db: AsyncSession, user_id: int) -> bool:
    """Two-factor off: the app's secret, any enrolment and every recovery code deleted.
    Whether it was on. The caller commits."""
    was_on = await db.execute(
        update(_USERS)
        .where(_USERS.c.id == user_id, _USERS.c.two_factor_since.is_not(None))
        .values(two_factor_since=None)
    )
    await db.execute(delete(_CREDENTIALS).where(_CREDENTIALS.c.user_id == user_id))
    await db.execute(delete(_ENROLMENTS).where(_ENROLMENTS.c.user_id == user_id))
    await delete_codes(db, user_id)
    return bool(was_on.rowcount)  # type: ignore[attr-defined]


async def reseal_secrets(db: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every stored secret under the box's first key (key rotation). The caller
    commits. How many were re-encrypted."""
    count = 0
    for table, key in (
        (_CREDENTIALS, _CREDENTIALS.c.user_id),
        (_ENROLMENTS, _ENROLMENTS.c.session_id),
    ):
        for identity, sealed in (await db.execute(select(key, table.c.secret))).all():
            await db.execute(update(table).where(key == identity).values(secret=box.reseal(sealed)))
            count += 1
    return count


async def purge_enrolments(db: AsyncSession) -> int:
    """Delete enrolments nobody confirmed in time. The caller commits."""
    result = await db.execute(delete(_ENROLMENTS).where(_ENROLMENTS.c.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
