"""A stand-in for the wall clock, so expiry and windows need no waiting."""

from __future__ import annotations

from datetime import datetime, timedelta

from quart_app.core.clock import utcnow


class Clock:
    """Stands in for the wall clock (monkeypatched into a module) so expiry needs no waiting."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
