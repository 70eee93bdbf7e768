"""Second-factor rows: an account's authenticator app, an enrolment waiting for its first
code, recovery codes, passkeys and the challenges of their ceremonies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
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


class Passkey(Base):
    """A WebAuthn credential of the account: its id and public key (never a secret), the sign
    count last seen (a count that does not grow betrays a cloned authenticator), and the user
    handle the account's passkeys share (random: it names nobody)."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[bytes] = mapped_column(LargeBinary())
    sign_count: Mapped[int] = mapped_column(BigInteger())
    user_handle: Mapped[str] = mapped_column(String(100))  # base64url
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_passkeys_user_id", "user_id"),)


class WebAuthnChallenge(Base):
    """One ceremony's random challenge, server-side, used once (one DELETE … RETURNING) and
    valid for at most a few minutes. ``id`` is the ceremony's own random name (its digest),
    which the page sends back with the authenticator's answer; ``purpose`` and the binding
    (the signed-in session adding a passkey, or the pending sign-in it completes) decide where
    it may be used."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    challenge: Mapped[str] = mapped_column(String(100))  # base64url
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(64))  # a new passkey's name
    user_handle: Mapped[str | None] = mapped_column(String(100))  # the one the options named
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
