"""Periodic clean-up in each worker: expired sessions, link tokens and outbox rows, and
finished throttle counters.

Expiry is enforced on every lookup; this only keeps the tables small. Every worker runs it:
the deletes are idempotent, so two workers purging at once do no harm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from datetime import timedelta

from quart import Quart

from quart_app.authn.second_factor import purge_pending_sign_ins
from quart_app.config import Settings
from quart_app.core.clock import utcnow
from quart_app.core.database import DATABASE_ERRORS, Database
from quart_app.mail.sender import purge_outbox
from quart_app.mfa.authenticator import purge_enrolments
from quart_app.mfa.passkeys import purge_challenges
from quart_app.recovery.tokens import purge_expired_tokens
from quart_app.sessions.store import purge_expired_sessions
from quart_app.state import get_database, get_throttle
from quart_app.throttle.policy import HOURLY_WINDOW, LoginThrottle

log = logging.getLogger(__name__)


async def purge_once(database: Database, throttle: LoginThrottle, settings: Settings) -> int:
    """Delete what has expired; returns the number of rows removed."""
    async with database.new_db() as db:
        removed = await purge_expired_sessions(db, settings)
        removed += await purge_expired_tokens(db)
        removed += await purge_outbox(db)
        removed += await purge_pending_sign_ins(db)
        removed += await purge_enrolments(db)
        removed += await purge_challenges(db)
        await db.commit()
    longest = max(
        settings.THROTTLE_PAIR_WINDOW,
        settings.THROTTLE_USER_WINDOW,
        settings.SECOND_FACTOR_WINDOW,
        HOURLY_WINDOW,
    )
    removed += await throttle.store.purge(utcnow(), timedelta(seconds=longest))
    return removed


async def purge_forever(database: Database, throttle: LoginThrottle, settings: Settings) -> None:
    while True:
        # Jitter: the workers started together; they need not all purge in the same second.
        await asyncio.sleep(settings.PURGE_INTERVAL * random.uniform(0.9, 1.1))  # noqa: S311
        try:
            removed = await purge_once(database, throttle, settings)
        except DATABASE_ERRORS as error:
            log.warning("purge skipped, database unavailable: %s", type(error).__name__)
        else:
            log.info("purged %d expired rows", removed)


def init_app(app: Quart, settings: Settings) -> None:
    async def purging() -> AsyncIterator[None]:
        # while_serving: starts after every before_serving hook (the database and the throttle
        # store are open) and stops before any after_serving one closes them. Stopped in an
        # after_serving hook of its own, a purge that woke during shutdown met a closed
        # database and failed the worker's shutdown.
        task = asyncio.create_task(purge_forever(get_database(app), get_throttle(app), settings))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.while_serving(purging)
