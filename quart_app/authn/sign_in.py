"""Signing in once the password step has passed: a fresh session row, its event, the cookie."""

from __future__ import annotations

from quart_auth import current_user, login_user

from quart_app.accounts.models import User
from quart_app.authn.new_sign_in import new_sign_in_notice
from quart_app.core.hot_path import ConstraintViolated, Write
from quart_app.events.log import EventKind, event_write, log_committed
from quart_app.metrics.instruments import count_login
from quart_app.sessions.current_user import SessionUser
from quart_app.sessions.models import API
from quart_app.sessions.store import (
    NewSession,
    SignedIn,
    new_session,
    revoke_session_token_write,
)
from quart_app.state import get_database, get_settings
from quart_app.web.client_ip import request_ip


class AccountGone(Exception):
    """The account was deleted while it was signing in: to the user, an ordinary failed login."""


async def start_session(
    user: User, *, remember: bool, user_agent: str, event: EventKind | None
) -> None:
    """Sign ``user`` in with a fresh session id (never a reused one: no session fixation).

    The session row and the security event are one transaction, written straight on the driver
    in one round trip (``Database.commit_together``): the login hot path's only write. A session
    this browser already had is ended in it: switching accounts leaves no live row behind. The
    request's ``db`` must hold no uncommitted write. Raises AccountGone when the account was
    deleted meanwhile (its row's foreign key refuses the session): a lost race, not an outage.
    """
    new = new_session(
        user=user,
        remember=remember,
        user_agent=user_agent,
        settings=get_settings(),
        ip=request_ip(),
    )
    writes = []
    if current_user.auth_id is not None:
        writes.append(revoke_session_token_write(current_user.auth_id))
    if event is not None:
        writes.append(event_write(user.id, event))
    if event == EventKind.LOGIN_SUCCEEDED and (notice := await new_sign_in_notice(user)):
        writes.append(notice)  # read before this sign-in's own event exists
    signed_in = await _write_session(new, *writes)
    login_user(SessionUser(new.token, signed_in=signed_in), remember=remember)
    if event == EventKind.LOGIN_SUCCEEDED:  # not a registration's first session
        count_login("success")


async def issue_api_token(user: User, *, name: str | None, user_agent: str) -> NewSession:
    """The API's sign-in: a new bearer token, a session row of kind "api" named ``name``, and
    its ``token_created`` event, in one transaction as a browser's sign-in. No cookie is read
    or written. Raises AccountGone as ``start_session`` does."""
    new = new_session(
        user=user,
        remember=True,
        user_agent=user_agent,
        settings=get_settings(),
        ip=request_ip(),
        kind=API,
        name=name,
    )
    await _write_session(new, event_write(user.id, EventKind.TOKEN_CREATED))
    count_login("success")
    return new


async def _write_session(new: NewSession, *writes: Write) -> SignedIn:
    """The new row and ``writes`` in one transaction; the row as the request now knows it."""
    try:
        results = await get_database().commit_together(new.write, *writes)
    except ConstraintViolated:
        raise AccountGone() from None
    log_committed(writes)
    return new.signed_in(results[0][0][0])  # the insert's RETURNING id


def resume_session(token: str, signed_in: SignedIn) -> None:
    """Reissue the cookie for a session whose id was rotated (same row, new token)."""
    login_user(SessionUser(token, signed_in=signed_in), remember=signed_in.remember)
