"""E-mail addresses: syntax and normalisation (email-validator, no DNS), and the one-owner rule.

An address is attached to an account only once confirmed (``recovery.email_confirmation``);
the unique index on ``email_key`` then lets one account hold it, whoever confirms first.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.models import User

EMAIL_INPUT_MAX = 320  # RFC 3696's ceiling; email-validator refuses more than 254 itself
INVALID_EMAIL = "Enter an e-mail address like name@example.com."


class AddressTaken(Exception):
    """Another account confirmed this address first (the unique index refused it)."""


def normalise_email(raw: str) -> str | None:
    """The address as email-validator normalises it (domain lower-cased, IDNA), or None when it
    is not one. Syntax only: a DNS lookup would block the event loop and leak timing."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def email_problems(raw: str) -> list[str]:
    return [] if normalise_email(raw) else [INVALID_EMAIL]


def email_key(address: str) -> str:
    """What decides "the same address": the normalised address, case-folded. Local parts are
    case-sensitive by the RFC, but no provider people use treats them so."""
    return address.casefold()


async def find_owner(db: AsyncSession, address: str) -> User | None:
    """The account that has confirmed ``address`` (normalised), if any."""
    return await db.scalar(select(User).where(User.email_key == email_key(address)))


async def attach_email(db: AsyncSession, user_id: int, address: str) -> None:
    """Make ``address`` the account's confirmed address; AddressTaken when another account
    holds it (the caller rolls back). The caller commits."""
    try:
        await db.execute(
            update(User)
            .where(User.id == user_id)
            .values(email=address, email_key=email_key(address))
        )
        await db.flush()
    except IntegrityError:
        raise AddressTaken() from None
