"""Passkeys: the WebAuthn ceremonies (the ``webauthn`` package checks every signature, origin,
relying-party hash and flag) and the rows they read and write.

Each ceremony's options carry a random challenge kept server-side for CHALLENGE_LIFETIME and
used up by the one answer that brings it back (one DELETE … RETURNING), under a random
ceremony name the page returns with the authenticator's answer. The relying party is
PUBLIC_URL: its host name is the RP id, its scheme, host and port the only origin accepted.
Sign counts are checked (one that does not grow, when the authenticator keeps one, is a
clone) and moved forward by compare-and-set.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from quart_app.config import Settings
from quart_app.core.clock import utcnow
from quart_app.core.tokens import new_session_token, token_digest
from quart_app.mfa.models import Passkey, WebAuthnChallenge

CHALLENGE_LIFETIME = timedelta(minutes=5)
NAME_MAX = 64
CREDENTIAL_ID_MAX = 1400  # base64url of WebAuthn's 1023-byte maximum, with room
Purpose = Literal["add", "sign_in", "second_factor"]
ADD: Purpose = "add"
SIGN_IN: Purpose = "sign_in"
SECOND_FACTOR: Purpose = "second_factor"
_PASSKEYS = Passkey.__table__
_CHALLENGES = WebAuthnChallenge.__table__


class PasskeyRefused(Exception):
    """The answer does not prove a passkey of the account (or the ceremony is over); the
    message says so for a person, without the verifier's details. The ceremony is used up
    all the same: the caller commits."""


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    origin: str
    name: str

    @classmethod
    def of(cls, settings: Settings) -> RelyingParty:
        parts = urlsplit(settings.PUBLIC_URL)
        host = parts.hostname or "localhost"
        return cls(id=host, origin=f"{parts.scheme}://{parts.netloc}", name=host)


@dataclass(frozen=True, slots=True)
class PasskeyUse:
    user_id: int
    passkey_name: str


async def _new_ceremony(
    db: AsyncSession,
    purpose: Purpose,
    challenge: bytes,
    *,
    user_id: int | None = None,
    session_id: int | None = None,
    name: str | None = None,
    user_handle: str | None = None,
) -> str:
    ceremony = new_session_token()
    await db.execute(
        insert(_CHALLENGES).values(
            id=token_digest(ceremony),
            purpose=purpose,
            challenge=bytes_to_base64url(challenge),
            user_id=user_id,
            session_id=session_id,
            name=name,
            user_handle=user_handle,
            expires_at=utcnow() + CHALLENGE_LIFETIME,
        )
    )
    return ceremony


async def _take_ceremony(
    db: AsyncSession,
    ceremony: str,
    purpose: Purpose,
    *,
    user_id: int | None = None,
    session_id: int | None = None,
) -> tuple[bytes, str | None, str | None]:
    """The ceremony's challenge, name and user handle, used up; PasskeyRefused if it is
    unknown, used, expired, or another's."""
    if not isinstance(ceremony, str) or not ceremony or len(ceremony) > 64:
        raise PasskeyRefused("That passkey request has expired. Try again.")
    conditions = [
        _CHALLENGES.c.id == token_digest(ceremony),
        _CHALLENGES.c.purpose == purpose,
        _CHALLENGES.c.expires_at > utcnow(),
    ]
    if user_id is not None:
        conditions.append(_CHALLENGES.c.user_id == user_id)
    if session_id is not None:
        conditions.append(_CHALLENGES.c.session_id == session_id)
    row = (
        await db.execute(
            delete(_CHALLENGES)
            .where(*conditions)
            .returning(_CHALLENGES.c.challenge, _CHALLENGES.c.name, _CHALLENGES.c.user_handle)
        )
    ).first()
    if row is None:
        raise PasskeyRefused("That passkey request has expired. Try again.")
    return base64url_to_bytes(row[0]), row[1], row[2]


async def list_passkeys(db: AsyncSession, user_id: int) -> list[Passkey]:
    query = select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)
    return list((await db.scalars(query)).all())


async def count_passkeys(db: AsyncSession, user_id: int) -> int:
    query = select(func.count()).select_from(_PASSKEYS).where(_PASSKEYS.c.user_id == user_id)
    return int(await db.scalar(query) or 0)


async def has_passkeys(db: AsyncSession, user_id: int) -> bool:
    found = await db.scalar(select(_PASSKEYS.c.id).where(_PASSKEYS.c.user_id == user_id).limit(1))
    return found is not None


async def registration_options(
    db: AsyncSession, rp: RelyingParty, *, user_id: int, username: str, session_id: int, name: str
) -> dict[str, Any]:
    """Options to create a discoverable passkey with user verification, excluding the
    account's passkeys (no authenticator registers twice); the caller commits."""
    existing = await list_passkeys(db, user_id)
    handle = existing[0].user_handle if existing else bytes_to_base64url(secrets.token_bytes(32))
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=username,
        user_id=base64url_to_bytes(handle),
        user_display_name=username,
        timeout=int(CHALLENGE_LIFETIME.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in existing
        ],
    )
    ceremony = await _new_ceremony(
        db,
        ADD,
        options.challenge,
        user_id=user_id,
        session_id=session_id,
        name=name,
        user_handle=handle,
    )
    return {"ceremony": ceremony, "publicKey": json.loads(options_to_json(options))}


async def add_passkey(
    db: AsyncSession,
    rp: RelyingParty,
    *,
    user_id: int,
    session_id: int,
    ceremony: str,
    credential: dict[str, Any],
) -> str:
    """Verify the authenticator's answer to this session's ceremony and store the passkey;
    its name. PasskeyRefused otherwise. The caller commits."""
    challenge, name, handle = await _take_ceremony(
        db, ceremony, ADD, user_id=user_id, session_id=session_id
    )
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyRefused("The passkey could not be verified. Try again.") from error
    credential_id = bytes_to_base64url(verified.credential_id)
    if len(credential_id) > CREDENTIAL_ID_MAX:
        raise PasskeyRefused("This passkey's id is too long to store.")
    taken = await db.scalar(
        select(_PASSKEYS.c.id).where(_PASSKEYS.c.credential_id == credential_id)
    )
    if taken is not None:
        raise PasskeyRefused("This passkey is registered already.")
    try:
        await db.execute(
            insert(_PASSKEYS).values(
                user_id=user_id,
                credential_id=credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                user_handle=handle,
                name=name or "Passkey",
                created_at=utcnow(),
            )
        )
    except IntegrityError:  # registered by a concurrent request a moment ago
        await db.rollback()
        raise PasskeyRefused("This passkey is registered already.") from None
    return name or "Passkey"


async def authentication_options(
    db: AsyncSession, rp: RelyingParty, *, purpose: Purpose, user_id: int | None = None
) -> dict[str, Any]:
    """Options to sign in: any discoverable passkey of this site (with user verification), or,
    as a second factor, one of ``user_id``'s passkeys. The caller commits."""
    allowed = []
    if purpose == SECOND_FACTOR and user_id is not None:
        allowed = [
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id))
            for p in await list_passkeys(db, user_id)
        ]
    options = generate_authentication_options(
        rp_id=rp.id,
        timeout=int(CHALLENGE_LIFETIME.total_seconds() * 1000),
        allow_credentials=allowed,
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if purpose == SIGN_IN
            else UserVerificationRequirement.PREFERRED
        ),
    )
    ceremony = await _new_ceremony(db, purpose, options.challenge, user_id=user_id)
    return {"ceremony": ceremony, "publicKey": json.loads(options_to_json(options))}


async def use_passkey(
    db: AsyncSession,
    rp: RelyingParty,
    *,
    purpose: Purpose,
    ceremony: str,
    credential: dict[str, Any],
    user_id: int | None = None,
) -> PasskeyUse:
    """Verify a sign-in with a passkey (of ``user_id``'s, as a second factor): whose it is.
    Its sign count and last use are recorded. PasskeyRefused otherwise. The caller commits."""
    challenge, _, _ = await _take_ceremony(db, ceremony, purpose, user_id=user_id)
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    if not isinstance(credential_id, str) or len(credential_id) > CREDENTIAL_ID_MAX:
        raise PasskeyRefused("That passkey is not registered here.")
    query = select(Passkey).where(Passkey.credential_id == credential_id)
    if user_id is not None:
        query = query.where(Passkey.user_id == user_id)
    passkey = await db.scalar(query)
    if passkey is None:
        raise PasskeyRefused("That passkey is not registered here (or was removed).")
    response = credential.get("response")
    sent_handle = response.get("userHandle") if isinstance(response, dict) else None
    if sent_handle and sent_handle != passkey.user_handle:
        raise PasskeyRefused("That passkey is not registered here.")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=purpose == SIGN_IN,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        raise PasskeyRefused("The passkey could not be verified. Try again.") from error
    moved = await db.execute(
        update(_PASSKEYS)
        .where(_PASSKEYS.c.id == passkey.id, _PASSKEYS.c.sign_count == passkey.sign_count)
        .values(sign_count=verified.new_sign_count, last_used_at=utcnow())
    )
    if not moved.rowcount:  # type: ignore[attr-defined]  # a concurrent use got there first
        raise PasskeyRefused("The passkey could not be verified. Try again.")
    return PasskeyUse(passkey.user_id, passkey.name)


async def remove_passkey(db: AsyncSession, *, user_id: int, passkey_id: int) -> str | None:
    """Delete one of the account's passkeys; its name, or None if it has none of that id.
    The caller commits."""
    return await db.scalar(
        delete(_PASSKEYS)
        .where(_PASSKEYS.c.id == passkey_id, _PASSKEYS.c.user_id == user_id)
        .returning(_PASSKEYS.c.name)
    )


async def delete_passkeys(db: AsyncSession, user_id: int) -> None:
    await db.execute(delete(_PASSKEYS).where(_PASSKEYS.c.user_id == user_id))


async def purge_challenges(db: AsyncSession) -> int:
    result = await db.execute(delete(_CHALLENGES).where(_CHALLENGES.c.expires_at <= utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
