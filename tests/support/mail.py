"""Mail-test helpers: give an account a confirmed address, read a received mail's text."""

from __future__ import annotations

from email.message import EmailMessage

from quart import Quart
from sqlalchemy import update

from quart_app.accounts.emails import email_key
from quart_app.accounts.models import User
from quart_app.state import get_database


async def with_address(app: Quart, user: User, address: str) -> None:
    """Attach ``address`` to ``user`` as if its link had been used."""
    async with get_database(app).new_db() as db:
        await db.execute(
            update(User)
            .where(User.id == user.id)
            .values(email=address, email_key=email_key(address))
        )
        await db.commit()


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a received mail."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "the mail has no text/plain part"
    return str(part.get_content())
