"""Throttle counters in the database: fixed windows in ``throttle_counters``, every worker's."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from quart_app.core.database import Database
from quart_app.core.hot_path import as_utc
from quart_app.throttle.models import ThrottleCounter


@dataclass(frozen=True, slots=True)
class Counter:
    hits: int
    window_started_at: datetime
    blocked_until: datetime | None


_COUNTERS = ThrottleCounter.__table__


@functools.cache
def _read_statement(key_count: int) -> Select[Any]:
    """``key IN (:key0, :key1 …)``, one statement per count, compiled once by the hot reads."""
    keys = [bindparam(f"key{n}") for n in range(key_count)]
    columns = _COUNTERS.c
    return select(
        columns.key, columns.hits, columns.window_started_at, columns.blocked_until
    ).where(columns.key.in_(keys))


class DatabaseThrottleStore:
    """Fixed-window counters in the ``throttle_counters`` table, each change its own transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def ping(self) -> None:
        """Nothing of its own to check: the health check already asks the database."""

    async def close(self) -> None:
        """Nothing of its own to close: the database's engine is db.py's."""

    async def increment(self, key: str, window: timedelta, now: datetime) -> Counter:
        """Count one hit in the key's current window (starting a new window when it is over)."""
        expired = ThrottleCounter.window_started_at <= now - window
        statement = (
            update(ThrottleCounter)
            .where(ThrottleCounter.key == key)
            .values(
                hits=case((expired, 1), else_=ThrottleCounter.hits + 1),
                window_started_at=case((expired, now), else_=ThrottleCounter.window_started_at),
            )
            .returning(
                ThrottleCounter.hits,
                ThrottleCounter.window_started_at,
                ThrottleCounter.blocked_until,
            )
        )
        async with self.database.new_db() as db:
            for _ in range(3):  # an INSERT race with another worker is retried as an UPDATE
                row = (await db.execute(statement)).one_or_none()
                if row is not None:
                    await db.commit()
                    return Counter(*row)
                try:
                    await db.execute(
                        insert(ThrottleCounter).values(key=key, hits=1, window_started_at=now)
                    )
                    await db.commit()
                    return Counter(1, now, None)
                except IntegrityError:
                    await db.rollback()
        raise RuntimeError(f"throttle counter {key!r} could not be written")

    async def read(self, keys: list[str]) -> dict[str, Counter]:
        """The keys' counters, straight from the driver (every login form POST reads them)."""
        rows = await self.database.read_all(
            _read_statement(len(keys)), {f"key{n}": key for n, key in enumerate(keys)}
        )
        return {
            key: Counter(hits, as_utc(started), None if blocked is None else as_utc(blocked))
            for key, hits, started, blocked in rows
        }

    async def block(self, key: str, until: datetime) -> None:
        async with self.database.new_db() as db:
            await db.execute(
                update(ThrottleCounter)
                .where(ThrottleCounter.key == key)
                .values(blocked_until=until)
            )
            await db.commit()

    async def reset(self, key: str) -> None:
        async with self.database.new_db() as db:
            await db.execute(delete(ThrottleCounter).where(ThrottleCounter.key == key))
            await db.commit()

    async def purge(self, now: datetime, longest_window: timedelta) -> int:
        """Delete counters whose window and block are both over; returns how many."""
        async with self.database.new_db() as db:
            result = await db.execute(
                delete(ThrottleCounter).where(
                    ThrottleCounter.window_started_at <= now - longest_window,
                    or_(
                        ThrottleCounter.blocked_until.is_(None),
                        ThrottleCounter.blocked_until <= now,
                    ),
                )
            )
            await db.commit()
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
