"""Second-factor rows: an account's authenticator app, an enrolment waiting for its first
code, and recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from quart_app.core.models import Base, UTCDateTime


class TotpCredential(Base):
    """The account's authenticator app: its secret, encrypted (``mfa.encryption``), and the
    last time step a code was accepted for. A code for that step or an earlier one is refused:
    each code works once, whatever the clock window allows."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(Text())
    last_step: Mapped[int] = mapped_column(BigInteger())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TotpEnrolment(Base):
    """A secret shown on the enrolment page of one signed-in session, not yet confirmed by a
    code: held server-side (a secret in a form field could be swapped), ended with the session."""

    __tablename__ = "totp_enrolments"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    secret: Mapped[str] = mapped_column(Text())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecoveryCode(Base):
    """One single-use recovery code, stored as its SHA-256 digest (120 random bits: nothing to
    brute-force offline). Using it deletes the row, so of two concurrent uses one wins."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("user_id", "digest", name="uq_recovery_codes_user_digest"),)
