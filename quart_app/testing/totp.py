"""Two-factor for test suites: enrol a user in TOTP without the pages, compute its codes.

``await enrol_totp(user)`` turns two-factor on for ``user`` as the enrolment page would (a
secret sealed with the app's key, recovery codes made) and returns a ``TotpDevice``: the
authenticator app the user would have. The app accepts each time step's code once, so
``await device.fresh_code()`` gives a code for a step not used yet (the next one within the
clock window after a use); ``device.code()`` is what the app shows now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from quart import Quart
from sqlalchemy import insert, select, update

from quart_app.accounts.models import User
from quart_app.core.clock import utcnow
from quart_app.mfa import totp
from quart_app.mfa.models import TotpCredential
from quart_app.mfa.recovery_codes import replace_codes
from quart_app.state import get_database, get_secret_box

_CREDENTIALS = TotpCredential.__table__


@dataclass
class TotpDevice:
    """An authenticator app enrolled for one user of ``app``."""

    app: Quart
    user_id: int
    secret: str
    recovery_codes: list[str] = field(default_factory=list)

    def code(self, at: datetime | None = None, *, steps: int = 0) -> str:
        """The code the app shows at ``at`` (default now), ``steps`` time steps later."""
        return totp.code_at(self.secret, totp.time_step(at or utcnow()) + steps)

    async def fresh_code(self, at: datetime | None = None) -> str:
        """A code the app will accept now: for the current step, or the next one if the
        current one was used. AssertionError when both were (wait for the next step, or move
        the clock the app reads)."""
        async with get_database(self.app).new_db() as db:
            last = await db.scalar(
                select(_CREDENTIALS.c.last_step).where(_CREDENTIALS.c.user_id == self.user_id)
            )
        assert last is not None, "this user has no authenticator app enrolled"
        current = totp.time_step(at or utcnow())
        step = max(current, last + 1)
        assert step <= current + totp.CLOCK_WINDOW, (
            "every code within the clock window was used; the next is valid in the next step"
        )
        return totp.code_at(self.secret, step)


async def enrol_totp(app: Quart, user: User, *, with_recovery_codes: bool = True) -> TotpDevice:
    """Turn two-factor on for ``user`` with a new authenticator app (no code used yet)."""
    secret = totp.new_secret()
    now = utcnow()
    async with get_database(app).new_db() as db:
        await db.execute(
            insert(_CREDENTIALS).values(
                user_id=user.id,
                secret=get_secret_box(app).seal(secret),
                last_step=-1,
                created_at=now,
            )
        )
        await db.execute(update(User).where(User.id == user.id).values(two_factor_since=now))
        codes = await replace_codes(db, user.id) if with_recovery_codes else []
        await db.commit()
    return TotpDevice(app, user.id, secret, codes)
