"""The "new sign-in" notice: a sign-in from a browser this account has not used before.

A browser is known by its user agent among the account's earlier successful sign-ins and its
registration (the activity log). A cookie would recognise a browser more precisely, but every
sign-out clears all of the site's cookies (``Clear-Site-Data``), so each sign-in after a logout
would look new.
Only accounts with a confirmed address pay for the lookup: one indexed read on the driver.
"""

from __future__ import annotations

from sqlalchemy import bindparam, exists, or_, select

from quart_app.accounts.models import User
from quart_app.core.hot_path import Write
from quart_app.events.log import EventKind, request_user_agent
from quart_app.events.models import AuthEvent
from quart_app.events.notices import notice_context
from quart_app.mail.outbox import mail_write, render_mail, wake_sender_after_request
from quart_app.state import get_database, get_settings

# Only named binds: the hot path hands the values over by name.
_SEEN_BEFORE = select(
    exists().where(
        AuthEvent.user_id == bindparam("user_id"),
        or_(AuthEvent.kind == bindparam("signed_in"), AuthEvent.kind == bindparam("registered")),
        AuthEvent.user_agent == bindparam("user_agent"),
    )
)


async def new_sign_in_notice(user: User) -> Write | None:
    """The notice's outbox row for the sign-in's transaction, or None when the account has no
    confirmed address, the setting is off, or this browser signed in to it before."""
    if user.email is None or not get_settings().NOTIFY_NEW_SIGN_IN:
        return None
    values = {
        "user_id": user.id,
        "user_agent": request_user_agent(),
        "signed_in": EventKind.LOGIN_SUCCEEDED.value,
        "registered": EventKind.REGISTERED.value,
    }
    seen = await get_database().read_one(_SEEN_BEFORE, values)
    if seen is not None and seen[0]:
        return None
    mail = await render_mail(
        "new_sign_in", to=user.email, username=user.username, notice=notice_context()
    )
    wake_sender_after_request()
    return mail_write(mail)
