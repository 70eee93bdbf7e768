"""Times as people read them on the sessions and activity pages: "3 minutes ago", "in 29 days".

Worked out on the server, so a page without JavaScript reads the same; the exact UTC time goes
beside it in ``<time datetime>`` and its title (the ``moment`` macro in ``_macros.html``).
"""

from __future__ import annotations

from datetime import datetime

from quart_app.core.clock import utcnow

# (seconds in the unit, its name), largest first; past a month the date says more.
_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"))
_MONTH = 30 * 86400


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    """``moment`` relative to ``now``: "just now", "5 minutes ago", "in 2 hours", or past a
    month either way "on 2026-10-03"."""
    now = utcnow() if now is None else now
    seconds = (moment - now).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    if abs(seconds) >= _MONTH:
        return f"on {moment:%Y-%m-%d}"
    size, unit = next((size, unit) for size, unit in _UNITS if abs(seconds) >= size)
    count = int(abs(seconds) // size)
    amount = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def exact_time(moment: datetime) -> str:
    """The full time, for the title beside a relative one."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
