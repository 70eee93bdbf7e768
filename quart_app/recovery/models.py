"""The one-time link tokens of account recovery: confirming an address, resetting a password."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from quart_app.core.models import Base, UTCDateTime

TokenPurpose = Literal["confirm_email", "reset_password"]
CONFIRM_EMAIL: TokenPurpose = "confirm_email"
RESET_PASSWORD: TokenPurpose = "reset_password"  # noqa: S105  (a purpose's name, not a secret)


class AccountToken(Base):
    """A link's token, stored as its SHA-256 digest (a leaked table opens no account). Using it
    deletes the row, in one statement, so of two concurrent uses exactly one wins."""

    __tablename__ = "account_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    # confirm_email: the normalised address the link confirms.
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_account_tokens_user_id_purpose", "user_id", "purpose"),)
