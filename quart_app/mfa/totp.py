"""Authenticator-app codes (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps), with a replay
guard: a code is matched to its time step, and only a step later than the last one accepted
counts. pyotp makes the codes; which steps may match is decided here."""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import pyotp

STEP_SECONDS = 30
DIGITS = 6
# Steps either side of now a code may be for: clocks drift, and typing takes time (RFC 6238
# §5.2 recommends at most one step of network delay).
CLOCK_WINDOW = 1
SECRET_GROUP = 4
_CODE = re.compile(r"[0-9]{6}")
_SEPARATORS = re.compile(r"[\s-]+")


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended length), as authenticator apps take."""
    return pyotp.random_base32(length=32)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i : i + SECRET_GROUP] for i in range(0, len(secret), SECRET_GROUP))


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/…`` URI an app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def time_step(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The code for ``step`` (what an app shows during it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def normalise_code(raw: str) -> str | None:
    """Six digits, with spaces or a dash between them allowed ("123 456"); else None."""
    code = _SEPARATORS.sub("", raw)
    return code if _CODE.fullmatch(code) else None


def matching_step(secret: str, code: str, *, now: datetime, after_step: int) -> int | None:
    """The time step within the clock window whose code ``code`` is, if it is later than
    ``after_step`` (the last accepted one); None otherwise. Every candidate is compared in
    constant time, so timing shows neither which step matched nor how much of the code did."""
    current = time_step(now)
    found = None
    for step in range(current - CLOCK_WINDOW, current + CLOCK_WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step), code) and step > after_step:
            found = step
    return found
