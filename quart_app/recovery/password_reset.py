"""Resetting a forgotten password through a link mailed to the account's confirmed address.

Asking never reveals whether an account exists: the page is the same whatever was typed, and
the lookup, the limits and the mail happen after the response (``request_reset`` runs as a
background task), so the answer also takes the same time. The link's token is used up only by
the POST that sets the new password, atomically; a newer request, a password change or a
completed reset kills it. A reset ends every session and API token of the account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.emails import email_key, normalise_email
from quart_app.accounts.models import User
from quart_app.accounts.users import get_user, normalise_username, username_key
from quart_app.core.database import DATABASE_ERRORS
from quart_app.events.log import EventKind, add_event
from quart_app.events.notices import NoticeContext, queue_notice
from quart_app.mail.links import public_link
from quart_app.mail.outbox import queue_mail, render_mail
from quart_app.recovery.email_confirmation import lifetime_text
from quart_app.recovery.models import RESET_PASSWORD
from quart_app.recovery.tokens import LiveToken, issue_token, peek_token, use_token
from quart_app.sessions.store import revoke_all_sessions
from quart_app.state import (
    get_database,
    get_hasher,
    get_mail_sender,
    get_settings,
    get_throttle,
)

log = logging.getLogger(__name__)
LOGIN_INPUT_MAX = 320


@dataclass(frozen=True, slots=True)
class ResetDone:
    user: User
    sessions_ended: int


async def find_account(db: AsyncSession, login: str) -> User | None:
    """The account a username or a confirmed address names, if any."""
    login = login.strip()
    if not login or len(login) > LOGIN_INPUT_MAX:
        return None
    conditions = [User.username_key == username_key(normalise_username(login))]
    if (address := normalise_email(login)) is not None:
        conditions.append(User.email_key == email_key(address))
    return await db.scalar(select(User).where(or_(*conditions)).limit(1))


async def request_reset(login: str, origin: NoticeContext) -> None:
    """After the response: mail a reset link to the named account's confirmed address, within
    the per-IP and per-account hourly limits. Nothing is said to the asker either way, and a
    database outage here is only logged (the answer has gone)."""
    settings = get_settings()
    throttle = get_throttle()
    try:
        if not await throttle.within_hourly_limit(
            f"reset:ip:{origin.ip}", settings.RESET_REQUESTS_PER_IP
        ):
            return
        async with get_database().new_db() as db:
            user = await find_account(db, login)
            if user is None or user.email is None:
                return
            if not await throttle.within_hourly_limit(
                f"reset:user:{user.id}", settings.RESET_REQUESTS_PER_ACCOUNT
            ):
                return
            lifetime = settings.PASSWORD_RESET_LIFETIME
            token = await issue_token(
                db, user_id=user.id, purpose=RESET_PASSWORD, lifetime=timedelta(seconds=lifetime)
            )
            mail = await render_mail(
                "password_reset",
                to=user.email,
                keep=timedelta(seconds=lifetime),
                username=user.username,
                link=public_link("recovery.reset_password", token=token),
                lifetime=lifetime_text(lifetime),
                notice=origin,
            )
            await queue_mail(db, mail)
            await db.commit()
        get_mail_sender().nudge()  # no request ends here to wake it: the mail leaves now
    except DATABASE_ERRORS as error:
        log.warning(
            "password-reset request dropped, database unavailable: %s", type(error).__name__
        )


async def account_of_link(db: AsyncSession, token: str) -> User | None:
    """The account a live reset link belongs to, without using the link up (the caller ends
    the read before hashing)."""
    live = await peek_token(db, token, RESET_PASSWORD)
    return None if live is None else await get_user(db, live.user_id)


async def finish_reset(
    db: AsyncSession, token: str, new_password: str, origin: NoticeContext, ip: str
) -> ResetDone | None:
    """The reset, one flow for the page and the API: hash (no transaction open meanwhile),
    then use the link and commit everything at once, then clear the account's failed-login
    block. None, with nothing changed, when the link died while the password was hashed."""
    new_hash = await get_hasher().hash(new_password)
    done = await reset_password(db, token, new_hash, origin)
    if done is None:  # a concurrent POST used it, or a newer request killed it
        await db.rollback()
        return None
    await db.commit()
    await get_throttle().forgive_account(ip, done.user.username)
    return done


async def reset_password(
    db: AsyncSession, token: str, new_hash: str, origin: NoticeContext
) -> ResetDone | None:
    """Use the link and set the password: the token (atomically: of two POSTs one wins), the
    new hash, the end of every session and token, the event and the notice, all staged for
    one commit by the caller. None when the link is unknown, used, killed or expired."""
    live: LiveToken | None = await use_token(db, token, RESET_PASSWORD)
    if live is None:
        return None
    user = await get_user(db, live.user_id)
    if user is None:
        return None
    await db.execute(update(User).where(User.id == user.id).values(password_hash=new_hash))
    ended = await revoke_all_sessions(db, user_id=user.id)
    await add_event(db, user.id, EventKind.PASSWORD_RESET)
    if user.email:
        await queue_notice(
            db, "password_reset_done", to=user.email, username=user.username, origin=origin
        )
    return ResetDone(user, ended)
