"""A sign-in that passed its password step and waits for the second factor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from quart_app.core.models import Base, UTCDateTime


class PendingSignIn(Base):
    """Who passed the password step, for at most a few minutes, and what the sign-in will be.

    Kept server-side, keyed by the SHA-256 digest of a random token that the browser holds in
    its signed session cookie (or a script in ``second_factor_token``): nothing the client
    sends can change the account, the ``next`` target or the remember-me choice, and no session
    row exists until the second factor is right.
    """

    __tablename__ = "pending_sign_ins"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "browser" or "api", as sessions.kind
    next_path: Mapped[str | None] = mapped_column(String(2048))
    remember: Mapped[bool] = mapped_column(default=False)
    token_name: Mapped[str | None] = mapped_column(String(100))  # the API token's name
    failures: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_pending_sign_ins_user_id", "user_id"),)
