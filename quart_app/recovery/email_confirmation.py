"""Attaching an address to an account: offered, mailed a link, attached only when confirmed.

The asker learns nothing about other accounts: offering an address that another account has
confirmed looks the same as any other offer ("check your inbox"), and that address's owner
gets a notice instead of a link. Until the link is used, the old address stays the account's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.emails import AddressTaken, attach_email, email_key, find_owner
from quart_app.accounts.models import User
from quart_app.accounts.users import get_user
from quart_app.core.clock import utcnow
from quart_app.events.log import EventKind, add_event
from quart_app.events.notices import queue_notice
from quart_app.mail.links import public_link
from quart_app.mail.outbox import queue_mail, render_mail
from quart_app.recovery.models import CONFIRM_EMAIL
from quart_app.recovery.tokens import issue_token, latest_token, use_token
from quart_app.state import get_settings, get_throttle

RESEND_INTERVAL = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class Confirmed:
    address: str
    username: str


class ConfirmationRefused(Exception):
    """The link is unknown, used, superseded or expired; or its address was taken meanwhile."""

    def __init__(self, *, taken: bool = False) -> None:
        super().__init__("address taken" if taken else "invalid link")
        self.taken = taken


def lifetime_text(seconds: int) -> str:
    """ "24 hours", "1 hour", "30 minutes": how long a link works, as a mail says it."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def offer_address(db: AsyncSession, user: User, address: str) -> None:
    """Stage what asking for ``address`` (normalised) causes; the caller commits. A link to
    the address, replacing any earlier one; or, when another account has confirmed it, a
    notice to it; or nothing, when it is already this account's."""
    owner = await find_owner(db, address)
    if owner is not None:
        # At most one such notice per address an hour: asking again and again must not turn
        # the form into a way to flood somebody's inbox.
        limit_key = f"address-in-use:{email_key(address)}"
        if owner.id != user.id and await get_throttle().within_hourly_limit(limit_key, 1):
            await queue_notice(
                db, "address_in_use", to=address, username=owner.username, address=address
            )
        return
    lifetime = get_settings().EMAIL_CONFIRM_LIFETIME
    token = await issue_token(
        db,
        user_id=user.id,
        purpose=CONFIRM_EMAIL,
        lifetime=timedelta(seconds=lifetime),
        email=address,
    )
    mail = await render_mail(
        "confirm_email",
        to=address,
        keep=timedelta(seconds=lifetime),
        username=user.username,
        address=address,
        link=public_link("recovery.confirm_email", token=token),
        lifetime=lifetime_text(lifetime),
    )
    await queue_mail(db, mail)


async def pending_address(db: AsyncSession, user_id: int) -> str | None:
    """The address waiting for its link to be used, if any."""
    pending = await latest_token(db, user_id=user_id, purpose=CONFIRM_EMAIL)
    return None if pending is None else pending.email


async def resend_wait(db: AsyncSession, user_id: int) -> int:
    """Seconds before the pending link may be sent again (0: now)."""
    pending = await latest_token(db, user_id=user_id, purpose=CONFIRM_EMAIL)
    if pending is None:
        return 0
    left = pending.created_at + RESEND_INTERVAL - utcnow()
    return max(0, int(left.total_seconds()) + 1) if left > timedelta(0) else 0


async def confirm_address(db: AsyncSession, token: str) -> Confirmed:
    """Use the link: attach its address to its account, note the event, and tell the old
    address, if any. Raises ConfirmationRefused (the caller rolls back). The caller commits."""
    live = await use_token(db, token, CONFIRM_EMAIL)
    if live is None or live.email is None:
        raise ConfirmationRefused()
    user = await get_user(db, live.user_id)
    if user is None:  # the account went with its tokens (cascade): only a race gets here
        raise ConfirmationRefused()
    old_address = user.email
    try:
        await attach_email(db, user.id, live.email)
    except AddressTaken:
        raise ConfirmationRefused(taken=True) from None
    await add_event(db, user.id, EventKind.EMAIL_CHANGED)
    if old_address and old_address != live.email:
        await queue_notice(
            db,
            "email_changed",
            to=old_address,
            username=user.username,
            old_address=old_address,
            new_address=live.email,
        )
    return Confirmed(address=live.email, username=user.username)
