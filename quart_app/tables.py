"""Every feature's tables in one ``MetaData``: what alembic compares migrations against and
what the tests drop. Each feature package defines its own models; this only gathers them."""

from __future__ import annotations

from quart_app.accounts.models import User
from quart_app.authn.models import PendingSignIn
from quart_app.core.models import Base
from quart_app.events.models import AuthEvent
from quart_app.mail.models import OutboxMail
from quart_app.mfa.models import (
    Passkey,
    RecoveryCode,
    TotpCredential,
    TotpEnrolment,
    WebAuthnChallenge,
)
from quart_app.recovery.models import AccountToken
from quart_app.sessions.models import UserSession
from quart_app.throttle.models import ThrottleCounter

MODELS = (
    User,
    UserSession,
    AuthEvent,
    ThrottleCounter,
    OutboxMail,
    AccountToken,
    TotpCredential,
    TotpEnrolment,
    RecoveryCode,
    PendingSignIn,
    Passkey,
    WebAuthnChallenge,
)
metadata = Base.metadata
