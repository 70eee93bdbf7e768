"""Readiness for load balancers: 200 while this host can serve logins, 503 otherwise.

That takes the database and, when REDIS_URL is set, Redis (the throttle counters: without them
every login is refused with 503).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from quart import Blueprint, Response, jsonify
from redis.exceptions import RedisError

from quart_app.core.database import DATABASE_ERRORS
from quart_app.state import get_database, get_throttle

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0
CHECK_ERRORS = (*DATABASE_ERRORS, RedisError, TimeoutError, RuntimeError)


@bp.get("/healthz")
async def healthz() -> tuple[Response, int]:
    checks: dict[str, Callable[[], Awaitable[object]]] = {
        "database": lambda: get_database().check_writable(),
        "throttle store": lambda: get_throttle().store.ping(),
    }
    for name, check in checks.items():
        try:
            # Shielded: a check that overruns is answered 503 but left to finish on its own. Cut
            # off mid-statement, it would abandon a connection in the middle of a transaction.
            await asyncio.wait_for(asyncio.shield(check()), CHECK_TIMEOUT_SECONDS)
        except CHECK_ERRORS as error:
            # Which service failed goes to the log only: the answer is public.
            log.warning("health check failed: %s: %s", name, type(error).__name__)
            return jsonify(status="unavailable"), 503
    return jsonify(status="ok"), 200
