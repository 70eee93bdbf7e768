"""Recovery codes: ten single-use codes for signing in when the authenticator app is gone.

Each is 120 random bits (15 bytes) in base32, shown in six groups of four; only digests are
stored. A used code is deleted in one statement, so two concurrent uses cannot both pass.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.core.clock import utcnow
from quart_app.mfa.models import RecoveryCode

CODE_COUNT = 10
CODE_BYTES = 15  # 120 bits: ASVS 2.6.2 / NIST 800-63B §5.1.2 ask for at least 112
GROUP = 4
_CODE = re.compile(r"[A-Z2-7]{24}")
_SEPARATORS = re.compile(r"[\s-]+")
_CODES = RecoveryCode.__table__


def new_code() -> str:
    """One code, e.g. ``ABCD-EFGH-IJKL-MNOP-QRST-UVWX``: base32 (no 0/1/8/9 to misread)."""
    text = base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode()
    return "-".join(text[i : i + GROUP] for i in range(0, len(text), GROUP))


def normalise_code(raw: str) -> str | None:
    """A code as typed (any case, with or without dashes and spaces) in its stored form."""
    code = _SEPARATORS.sub("", raw).upper()
    return code if _CODE.fullmatch(code) else None


def _digest(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()  # type: ignore[union-attr]


async def replace_codes(db: AsyncSession, user_id: int) -> list[str]:
    """A new set of codes for the account, ending every earlier one. The caller commits, and
    shows the returned codes once: they are stored nowhere."""
    await delete_codes(db, user_id)
    codes = [new_code() for _ in range(CODE_COUNT)]
    now = utcnow()
    await db.execute(
        insert(_CODES),
        [{"user_id": user_id, "digest": _digest(code), "created_at": now} for code in codes],
    )
    return codes


async def use_code(db: AsyncSession, user_id: int, raw: str) -> bool:
    """Use the code up if it is one of the account's: one DELETE … RETURNING. The caller
    commits."""
    if normalise_code(raw) is None:
        return False
    row = (
        await db.execute(
            delete(_CODES)
            .where(_CODES.c.user_id == user_id, _CODES.c.digest == _digest(raw))
            .returning(_CODES.c.id)
        )
    ).first()
    return row is not None


async def codes_left(db: AsyncSession, user_id: int) -> int:
    count = await db.scalar(
        select(func.count()).select_from(_CODES).where(_CODES.c.user_id == user_id)
    )
    return int(count or 0)


async def delete_codes(db: AsyncSession, user_id: int) -> None:
    await db.execute(delete(_CODES).where(_CODES.c.user_id == user_id))
