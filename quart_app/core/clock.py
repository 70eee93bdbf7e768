"""The one clock: timezone-aware UTC, so no naive time reaches the database or a comparison."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: the one clock every model and service uses."""
    return datetime.now(UTC)
