"""The one password step: the same safeguards whether a login or a re-authentication runs it."""

from __future__ import annotations

from quart import Quart
from sqlalchemy import select

from quart_app.accounts.models import User
from quart_app.authn.flow import (
    AttemptThrottled,
    PasswordAccepted,
    PasswordRefused,
    check_password,
    reauthenticate,
)
from quart_app.events.models import AuthEvent
from quart_app.passwords.hasher import PasswordHasherPool
from quart_app.state import get_database
from quart_app.throttle.policy import Throttled
from tests.support.auth import PASSWORD, AuthActions, record_verifies


async def event_kinds(app: Quart) -> list[str]:
    async with get_database(app).sessionmaker() as db:
        return list((await db.scalars(select(AuthEvent.kind).order_by(AuthEvent.id))).all())


async def stored_hash(app: Quart) -> str:
    async with get_database(app).sessionmaker() as db:
        return (await db.scalars(select(User.password_hash))).one()


async def test_outcomes_and_their_events(app: Quart, auth: AuthActions) -> None:
    await auth.register("alice")
    verified = record_verifies(app)
    async with app.test_request_context("/login", method="POST"):
        accepted = await check_password("alice", PASSWORD)
        refused = await check_password("alice", "not the password at all")
        unknown = await check_password("nobody", "not the password at all")
    assert isinstance(accepted, PasswordAccepted) and accepted.user.username == "alice"
    assert isinstance(refused, PasswordRefused) and refused.user is not None
    assert isinstance(unknown, PasswordRefused) and unknown.user is None
    assert len(verified) == 3  # the unknown name cost a (dummy) verify too
    assert await event_kinds(app) == ["registered", "login_failed"]


async def test_reauthentication_is_throttled_and_logged_like_a_login(
    app: Quart, auth: AuthActions
) -> None:
    await auth.register("alice")
    async with app.test_request_context("/account/delete", method="POST"):
        async with get_database(app).sessionmaker() as db:
            user = (await db.scalars(select(User))).one()
        results = [await reauthenticate(user, "a wrong guess, again") for _ in range(5)]
        try:
            await reauthenticate(user, PASSWORD)
        except Throttled as throttled:
            blocked = throttled.retry_after_seconds
        else:
            blocked = 0
        outcome = await check_password("alice", PASSWORD)
    assert results == [False] * 5
    assert blocked > 0  # even the right password waits out the block
    assert isinstance(outcome, AttemptThrottled)
    kinds = await event_kinds(app)
    assert kinds.count("login_failed") == 5
    assert kinds.count("login_throttled") == 1


async def test_reauthentication_upgrades_an_outdated_hash(app: Quart, auth: AuthActions) -> None:
    await auth.register("alice")
    old = PasswordHasherPool(time_cost=1, memory_cost=2048, parallelism=1, pool_size=1)
    await old.start()
    try:
        outdated = await old.hash(PASSWORD)
    finally:
        old.shutdown()
    async with get_database(app).sessionmaker() as db:
        user = (await db.scalars(select(User))).one()
        user.password_hash = outdated
        await db.commit()
    async with app.test_request_context("/account/delete", method="POST"):
        assert await reauthenticate(user, PASSWORD)
    upgraded = await stored_hash(app)
    assert upgraded != outdated
    assert "m=8,t=1" in upgraded  # the fast-tests profile
