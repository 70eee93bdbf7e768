"""The account row: who can sign in, and the hash of their password."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from quart_app.core.clock import utcnow
from quart_app.core.models import Base, UTCDateTime

if TYPE_CHECKING:
    from quart_app.passwords.hasher import PasswordHasherPool


class User(Base):
    """A person who can sign in: ``username_key`` decides uniqueness, ``username`` is shown."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    # NFKC + casefold of the username: the unique constraint (not a prior SELECT) stops duplicates.
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The confirmed address (as normalised by email-validator), and its case-folded form that
    # decides uniqueness: one confirmed address, one account. None until one is confirmed.
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320))
    # When two-factor sign-in was turned on (an authenticator app confirmed); None while off.
    # On the row the login reads anyway: the password step needs no second query to know.
    two_factor_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When an operator locked the account (``users lock``): no sign-in of any kind while set.
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("uq_users_email_key", "email_key", unique=True),)

    async def set_password(self, password: str, hasher: PasswordHasherPool) -> None:
        """Hash ``password`` in the hashing pool and store the hash (never the password)."""
        self.password_hash = await hasher.hash(password)

    async def check_password(self, password: str, hasher: PasswordHasherPool) -> bool:
        """Whether ``password`` matches, verified in the hashing pool off the event loop."""
        return await hasher.verify(self.password_hash, password)

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, username={self.username!r})"
