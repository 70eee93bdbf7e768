"""The security event row shown on the activity page."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from quart_app.core.models import Base, UTCDateTime


class AuthEvent(Base):
    """One security-relevant event on an account, shown to its owner on the activity page."""

    __tablename__ = "auth_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(256), default="")

    __table_args__ = (Index("ix_auth_events_user_id_created_at", "user_id", "created_at"),)
