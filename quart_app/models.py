"""Database models: users, their server-side sessions, security events, throttle counters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, ForeignKey, Index, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

if TYPE_CHECKING:
    from quart_app.passwords import PasswordHasherPool


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: the one clock every model and service uses."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, and mixing the two breaks math."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use quart_app.models.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    """A person who can sign in: ``username_key`` decides uniqueness, ``username`` is shown."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    # NFKC + casefold of the username: the unique constraint (not a prior SELECT) stops duplicates.
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    async def set_password(self, password: str, hasher: PasswordHasherPool) -> None:
        """Hash ``password`` in the hashing pool and store the hash (never the password)."""
        self.password_hash = await hasher.hash(password)

    async def check_password(self, password: str, hasher: PasswordHasherPool) -> bool:
        """Whether ``password`` matches, verified in the hashing pool off the event loop."""
        return await hasher.verify(self.password_hash, password)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r})"


class UserSession(Base):
    """One signed-in browser. The cookie carries a random id; only its SHA-256 digest is stored."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A leaked database must hold no live sessions: store a digest, look up by digest.
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    remember: Mapped[bool] = mapped_column(default=False)
    user_agent: Mapped[str] = mapped_column(String(256), default="")

    __table_args__ = (Index("ix_sessions_user_id", "user_id"),)


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


class ThrottleCounter(Base):
    """A fixed-window counter shared by every worker (and surviving restarts).

    Keys name what is counted: failed logins per (IP, user), per user, POSTs per IP.
    """

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    hits: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
