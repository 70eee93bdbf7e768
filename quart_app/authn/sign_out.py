"""One way out of a session, for every path that ends one: logging out, ending this session
from the sessions page, deleting the account.

Each clears the same things: the session row (a copied cookie then signs nobody in), the
sign-in cookie, Quart's session (CSRF token, flashes), and, through ``Clear-Site-Data``, every
cookie and storage the browser keeps for the site (a shared computer's next user finds nothing).
That header would also drop a flash set in the same response, so why the user was signed out
travels in the redirect as a fixed reason the home page turns into a sentence.
"""

from __future__ import annotations

from enum import StrEnum

from quart import redirect, session, url_for
from quart_auth import current_user, logout_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from quart_app.core.database import get_db
from quart_app.sessions.store import revoke_session_token

CLEAR_SITE_DATA = '"cookies", "storage"'


class SignOutReason(StrEnum):
    LOGGED_OUT = "logged-out"
    SESSION_ENDED = "session-ended"
    ACCOUNT_DELETED = "account-deleted"


# The home page's sentence for each reason; logging out needs none (the page is the answer).
MESSAGES = {
    SignOutReason.SESSION_ENDED: "This session was ended. You are signed out.",
    SignOutReason.ACCOUNT_DELETED: "Your account and everything stored about it were deleted.",
}


async def sign_out(reason: SignOutReason) -> Response:
    """End this browser's session and commit the request's work (the row's deletion with the
    event or change the caller staged: one transaction); the 303 to send the browser home."""
    db = get_db()
    if current_user.auth_id is not None:
        await revoke_session_token(db, current_user.auth_id)
    try:
        await db.commit()
    except IntegrityError:  # an event for an account deleted meanwhile: its sessions went too
        await db.rollback()
    logout_user()
    session.clear()
    if reason is SignOutReason.LOGGED_OUT:
        target = url_for("main.index")
    else:
        target = url_for("main.index", signed_out=reason.value)
    response = redirect(target, 303)
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
    return response


def signed_out_message(reason: str | None) -> str | None:
    """The sentence for a reason in the home page's query (anything else: none)."""
    try:
        return MESSAGES.get(SignOutReason(reason or ""))
    except ValueError:
        return None
