"""What the signed-in pages share: this request's session, the account's row, and how many
other sessions a change ended, in words."""

from __future__ import annotations

from quart_auth import Unauthorized, current_user

from quart_app.accounts.models import User
from quart_app.accounts.users import get_user
from quart_app.authn.flow import reauthenticate
from quart_app.core.database import get_db
from quart_app.sessions.store import SignedIn


async def active_session() -> SignedIn:
    """This request's session (login_required has already resolved it: no query here)."""
    active = await current_user.load()
    if active is None:
        raise Unauthorized()  # signed out meanwhile: to the login page
    return active


async def signed_in_account(active: SignedIn) -> User:
    """The signed-in user's row, for the pages that check or change the password."""
    db = get_db()
    user = await get_user(db, active.user_id)
    await db.commit()  # end the read: no transaction stays open while argon2 runs
    if user is None:
        raise Unauthorized()  # signed out meanwhile: to the login page
    return user


async def current_password_refused(user: User, entered: str | None) -> bool:
    """True when a current password was entered and is not the account's. The pages check it
    even when another field is refused, so that every guess counts against the throttle."""
    return bool(entered) and not await reauthenticate(user, entered)


def signed_out_elsewhere(count: int) -> str:
    if count == 0:
        return "You had no other sessions."
    return f"{count} other session{'s' if count != 1 else ''} signed out."
