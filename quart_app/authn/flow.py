"""The password step of signing in, one flow for the login form and for re-authentication.

Throttle check, argon2 verify (a dummy hash for unknown names, the rehash of an outdated one),
the throttle's bookkeeping and the account's event: written once, so no caller can forget one
of them. It returns what happened; the caller decides what to show, and whether to sign in
(the two-factor issue will add "second factor required" to the outcomes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from quart_auth import Unauthorized

from quart_app.accounts.models import User
from quart_app.accounts.users import authenticate, find_user
from quart_app.core.database import get_db
from quart_app.events.log import EventKind, record_event, record_event_unless_recent
from quart_app.state import get_hasher, get_settings, get_throttle, get_trusted_proxies
from quart_app.throttle.policy import Throttled
from quart_app.web.client_ip import client_ip

# At most one "login_throttled" line per account this often, however many attempts are refused.
THROTTLED_EVENT_INTERVAL = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class PasswordAccepted:
    user: User


@dataclass(frozen=True, slots=True)
class PasswordRefused:
    """Wrong password or unknown name; ``user`` is the named account, if there is one."""

    user: User | None


@dataclass(frozen=True, slots=True)
class AttemptThrottled:
    retry_after_seconds: int


Outcome = PasswordAccepted | PasswordRefused | AttemptThrottled


async def check_password(username: str, password: str) -> Outcome:
    """Check ``username`` and ``password`` as a login does, with every safeguard of one."""
    ip = client_ip(get_trusted_proxies())
    throttle = get_throttle()
    try:
        pair_has_failures = await throttle.check_login(ip, username)
    except Throttled as throttled:
        # Refused before any argon2 work: guessing gets no cheaper by hammering.
        if (user := await find_user(get_db(), username)) is not None:
            await record_event_unless_recent(
                user.id, EventKind.LOGIN_THROTTLED, THROTTLED_EVENT_INTERVAL
            )
        return AttemptThrottled(throttled.retry_after_seconds)
    attempt = await authenticate(
        get_db(),
        username=username,
        password=password,
        hasher=get_hasher(),
        max_password_length=get_settings().PASSWORD_MAX_LENGTH,
    )
    if not attempt.ok or attempt.user is None:
        await throttle.record_failure(ip, username)
        if attempt.user is not None:
            await record_event(attempt.user.id, EventKind.LOGIN_FAILED)
        return PasswordRefused(attempt.user)
    if pair_has_failures:
        await throttle.record_success(ip, username)
    return PasswordAccepted(attempt.user)


async def reauthenticate(user: User, password: str) -> bool:
    """Check the signed-in user's password again (ASVS 3.7.1), exactly as a login would.

    A stolen session must not become a free password-guessing oracle: failures count against
    the (IP, user) pair and are on the activity page, and a blocked pair is refused with 429
    (Throttled, raised) before any argon2 work. An empty password is no attempt at all; an
    account deleted meanwhile raises Unauthorized.
    """
    if not password:
        return False
    outcome = await check_password(user.username, password)
    if isinstance(outcome, AttemptThrottled):
        raise Throttled(outcome.retry_after_seconds)
    if isinstance(outcome, PasswordRefused) and outcome.user is None:
        raise Unauthorized()  # the account was deleted meanwhile: signed out, to the login page
    return isinstance(outcome, PasswordAccepted) and outcome.user.id == user.id
