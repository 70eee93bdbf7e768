"""Liveness for load balancers: 200 while the database answers, 503 otherwise."""

from __future__ import annotations

import asyncio
import logging

from quart import Blueprint, Response, jsonify
from sqlalchemy import text

from quart_app.db import DATABASE_ERRORS, get_db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 2.0


@bp.get("/healthz")
async def healthz() -> tuple[Response, int]:
    try:
        await asyncio.wait_for(get_db().execute(text("SELECT 1")), CHECK_TIMEOUT_SECONDS)
    except (*DATABASE_ERRORS, TimeoutError, RuntimeError) as error:
        log.warning("health check failed: %s", type(error).__name__)
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok"), 200
