"""Authenticator-app secrets encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256).

A TOTP secret is a shared secret: whoever reads it makes valid codes, so a leaked database or
backup must not hold it in the clear. MultiFernet decrypts with any of its keys and encrypts
with the first, so keys rotate without downtime: put the new key first, keep the old ones
after it, run ``rotate-mfa-keys`` (re-encrypts every secret under the first), then drop them.

Without MFA_ENCRYPTION_KEYS, the keys are derived (HKDF-SHA256) from SECRET_KEY and each of
SECRET_KEY_FALLBACKS: zero set-up, and a SECRET_KEY rotation keeps old secrets readable as
long as the old key stays a fallback. Derived keys always follow explicit ones, so moving to
explicit keys keeps the old secrets readable until they are re-encrypted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["InvalidToken", "SecretBox", "derived_key", "is_fernet_key"]

_HKDF_INFO = b"quart_app: TOTP secrets at rest, v1"


def is_fernet_key(key: str) -> bool:
    """Whether ``key`` is 32 bytes in URL-safe base64, as ``Fernet.generate_key()`` makes."""
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def derived_key(secret_key: str) -> str:
    """A Fernet key derived from the app's SECRET_KEY: a key of its own for this purpose, so
    nothing encrypted with it can be confused with what SECRET_KEY signs."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())).decode()


class SecretBox:
    """``seal`` a secret under the first key; ``open`` it under any; ``reseal`` re-encrypts
    under the first (rotation)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])

    @classmethod
    def for_app(
        cls, explicit_keys: Sequence[str], secret_key: str, fallbacks: Sequence[str]
    ) -> SecretBox:
        derived = [derived_key(key) for key in (secret_key, *fallbacks)]
        return cls([*explicit_keys, *derived])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret; InvalidToken when no key opens it (a key dropped too soon)."""
        return self._fernet.decrypt(sealed.encode()).decode()

    def reseal(self, sealed: str) -> str:
        return self._fernet.rotate(sealed.encode()).decode()
