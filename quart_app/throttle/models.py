"""The throttle counter row, shared by every worker when no Redis is configured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from quart_app.core.models import Base, UTCDateTime


class ThrottleCounter(Base):
    """A fixed-window counter shared by every worker (and surviving restarts).

    Keys name what is counted: failed logins per (IP, user), per user, POSTs per IP.
    """

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
