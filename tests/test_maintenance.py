"""Periodic purge of expired sessions and finished throttle counters."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

import quart_app.maintenance as maintenance
from quart_app import create_app
from quart_app.accounts.models import User
from quart_app.core.clock import utcnow
from quart_app.core.database import Database
from quart_app.maintenance import purge_once
from quart_app.sessions.models import UserSession
from quart_app.state import get_database, get_settings, get_throttle


async def add_sessions(app: Quart, **ages: tuple[timedelta, timedelta, bool]) -> None:
    """Sessions named by user agent, each (age since last seen, time to expiry, remember)."""
    async with get_database(app).sessionmaker() as db:
        user = User(username="alice", username_key="alice", password_hash="x")
        db.add(user)
        await db.flush()
        now = utcnow()
        for name, (idle, expires_in, remember) in ages.items():
            db.add(
                UserSession(
                    token_digest=name.ljust(64, "0"),
                    user_id=user.id,
                    created_at=now - idle,
                    last_seen_at=now - idle,
                    expires_at=now + expires_in,
                    remember=remember,
                    user_agent=name,
                )
            )
        await db.commit()


async def remaining(app: Quart) -> set[str]:
    async with get_database(app).sessionmaker() as db:
        return set((await db.execute(select(UserSession.user_agent))).scalars())


async def test_purge_removes_expired_and_idle_sessions_only(app: Quart) -> None:
    hour = timedelta(hours=1)
    await add_sessions(
        app,
        live=(timedelta(minutes=1), hour, False),
        idle=(timedelta(minutes=31), hour, False),
        idle_remembered=(timedelta(days=3), timedelta(days=20), True),
        expired=(timedelta(minutes=1), -hour, True),
    )
    removed = await purge_once(get_database(app), get_throttle(app), get_settings(app))
    assert removed == 2
    assert await remaining(app) == {"live", "idle_remembered"}


async def test_purge_runs_in_the_background(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "PURGE_INTERVAL": 1})
    async with app.test_app():
        await add_sessions(app, expired=(timedelta(0), -timedelta(seconds=1), False))
        for _ in range(100):  # a liveness check, bounded at about 5 s
            if not await remaining(app):
                break
            await asyncio.sleep(0.05)
        assert await remaining(app) == set()


async def test_the_purge_stops_before_the_database_closes(
    app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purge that wakes while the worker shuts down must not meet a closed database (it
    failed the worker's shutdown with "database not started")."""
    purges = 0
    purging = asyncio.Event()
    real_purge_once = maintenance.purge_once

    async def counted(*args: Any) -> int:
        nonlocal purges
        purges += 1
        if purges >= 3:
            purging.set()
        return await real_purge_once(*args)

    purges_after_close: list[int] = []
    real_stop = Database.stop

    async def stop_and_linger(self: Database) -> None:
        await real_stop(self)
        seen = purges
        await asyncio.sleep(0.05)  # a slow close: a purge still running would wake now
        purges_after_close.append(purges - seen)

    monkeypatch.setattr(maintenance.random, "uniform", lambda _low, _high: 0.0)  # back to back
    monkeypatch.setattr(maintenance, "purge_once", counted)
    monkeypatch.setattr(Database, "stop", stop_and_linger)
    app = create_app({**app_config, "PURGE_INTERVAL": 1})
    await app.startup()
    await asyncio.wait_for(purging.wait(), 10)
    await app.shutdown()  # raised RuntimeError when the purge outlived the database
    assert purges_after_close == [0]
