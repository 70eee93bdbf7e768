"""The server-side session row a signed cookie or an API bearer token points at."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from quart_app.core.models import Base, UTCDateTime

SessionKind = Literal["browser", "api"]
BROWSER: SessionKind = "browser"
API: SessionKind = "api"


class UserSession(Base):
    """One signed-in browser (kind "browser": its cookie carries a random id) or one API bearer
    token (kind "api": the token is the random id). Only the id's SHA-256 digest is stored.
    Each kind is accepted only where it belongs: a cookie never resolves an API token's row, a
    bearer token never a browser's."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A leaked database must hold no live sessions: store a digest, look up by digest.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # No idle timeout: a browser whose user asked to be remembered, and every API token.
    remember: Mapped[bool] = mapped_column(default=False)
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    # The client's address at sign-in, then as of the last touch of last_seen_at.
    ip: Mapped[str] = mapped_column(String(64), default="", server_default="")
    kind: Mapped[str] = mapped_column(String(8), default=BROWSER, server_default=BROWSER)
    name: Mapped[str | None] = mapped_column(String(100))  # an API token's, as its owner named it

    __table_args__ = (Index("ix_sessions_user_id", "user_id"),)
