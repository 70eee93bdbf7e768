"""The outbox row: one mail waiting to be sent, written in the transaction of what caused it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from quart_app.core.models import Base, UTCDateTime


class OutboxMail(Base):
    """A rendered mail and its delivery state. No foreign key to the account: the notice of a
    deletion outlives the account it tells about. A row that holds a link is as secret as the
    link, so it is deleted once sent and purged once the link has expired."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Not before this time: now when queued, later after a failed attempt (the backoff).
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Worth sending until then (a link's own expiry); the purge deletes it afterwards.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A sender that claimed the row holds it until then; past it, another sender may retry it.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(32))
    # Set when the last attempt failed: kept (without retries) until expires_at, for the log.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))  # the error's type, no content

    __table_args__ = (Index("ix_mail_outbox_due_at", "due_at"),)
