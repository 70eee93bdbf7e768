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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from quart_app.accounts.models import User
from quart_app.accounts.users import look_up_user, replace_password_hash
from quart_app.core.database import Database, get_db
from quart_app.events.log import EventKind, add_event, has_recent_event
from quart_app.metrics.instruments import count_login
from quart_app.passwords.hasher import PasswordHasherPool
from quart_app.state import (
    get_database,
    get_hasher,
    get_settings,
    get_throttle,
)
from quart_app.throttle.policy import Throttled
from quart_app.web.client_ip import request_ip

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


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The outcome of checking credentials: ``user`` is the named account, if it exists."""

    user: User | None
    ok: bool


async def authenticate(
    db: AsyncSession,
    *,
    database: Database,
    username: str,
    password: str,
    hasher: PasswordHasherPool,
    max_password_length: int,
) -> LoginAttempt:
    """Check a username and password, doing the same argon2 work whether or not the name exists.

    Unknown names are verified against a dummy hash so response time does not reveal which names
    exist. A hash made with older parameters is upgraded while the password is at hand.
    """
    # Read outside ``db``'s transaction (straight from the driver): none is open while argon2
    # runs, and ``db`` is used only for a rehash.
    user = await look_up_user(database, username)
    if len(password) > max_password_length:
        return LoginAttempt(user, ok=False)  # no hash for anyone: nothing to learn from timing
    if user is None:
        await hasher.verify_dummy(password)
        return LoginAttempt(None, ok=False)
    if not await user.check_password(password, hasher):
        return LoginAttempt(user, ok=False)
    if hasher.needs_rehash(user.password_hash):
        new_hash = await hasher.hash(password)
        if await replace_password_hash(db, user, new_hash):
            await db.commit()
    return LoginAttempt(user, ok=True)


async def _record_event(user_id: int, kind: EventKind) -> None:
    """The attempt's event, in a transaction of its own: it must stay even though nothing else
    of a failed attempt commits. An account deleted meanwhile has no history to add to (its
    foreign key refuses the row): a lost race, not an outage."""
    db = get_db()
    await add_event(db, user_id, kind)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()


async def check_password(username: str, password: str) -> Outcome:
    """Check ``username`` and ``password`` for a sign-in (browser or API), with every safeguard
    of one; a refusal is counted in auth_logins_total (a success once a session begins)."""
    outcome = await _check_password(username, password)
    if isinstance(outcome, AttemptThrottled):
        count_login("throttled")
    elif isinstance(outcome, PasswordRefused):
        count_login("failed")
    return outcome


async def _check_password(username: str, password: str) -> Outcome:
    """Check ``username`` and ``password`` as a login does, with every safeguard of one."""
    ip = request_ip()
    throttle = get_throttle()
    try:
        pair_has_failures = await throttle.check_login(ip, username)
    except Throttled as throttled:
        # Refused before any argon2 work: guessing gets no cheaper by hammering.
        # One line per interval, not one per refused attempt: a flood must not push the account's
        # real history off its activity page.
        if (user := await look_up_user(get_database(), username)) is not None:
            db = get_db()
            recent = await has_recent_event(
                db, user.id, EventKind.LOGIN_THROTTLED, THROTTLED_EVENT_INTERVAL
            )
            await db.commit()  # end the read: a SQLite reader cannot wait to become a writer
            if not recent:
                await _record_event(user.id, EventKind.LOGIN_THROTTLED)
        return AttemptThrottled(throttled.retry_after_seconds)
    attempt = await authenticate(
        get_db(),
        database=get_database(),
        username=username,
        password=password,
        hasher=get_hasher(),
        max_password_length=get_settings().PASSWORD_MAX_LENGTH,
    )
    if not attempt.ok or attempt.user is None:
        await throttle.record_failure(ip, username)
        if attempt.user is not None:
            await _record_event(attempt.user.id, EventKind.LOGIN_FAILED)
        return PasswordRefused(attempt.user)
    if attempt.user.locked_at is not None:
        # The right password for an account an operator locked: refused as a failure looks,
        # not counted by the throttle (nothing was guessed), on the activity page.
        await _record_event(attempt.user.id, EventKind.LOGIN_LOCKED)
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
    outcome = await _check_password(user.username, password)  # not a sign-in: not counted
    if isinstance(outcome, AttemptThrottled):
        raise Throttled(outcome.retry_after_seconds)
    if isinstance(outcome, PasswordRefused) and outcome.user is None:
        raise Unauthorized()  # the account was deleted meanwhile: signed out, to the login page
    return isinstance(outcome, PasswordAccepted) and outcome.user.id == user.id
