"""Random secrets and the digests stored in their place: a leaked table holds nothing usable."""

from __future__ import annotations

import hashlib
import secrets


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 of the token: what the database stores, so a leaked table holds no live sessions.

    A fast hash suffices: the token has 256 random bits, nothing to brute-force.
    """
    return hashlib.sha256(token.encode()).hexdigest()
