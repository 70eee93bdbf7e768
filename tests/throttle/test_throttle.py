"""Login throttling: failed-login limits with backoff, per-IP POST rates, shared counters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

import quart_app.events.log as events_module
import quart_app.throttle.policy as throttle_module
from quart_app import create_app
from quart_app.events.models import AuthEvent
from quart_app.state import get_database, get_throttle
from quart_app.throttle.policy import LoginThrottle, Throttled
from tests.support.auth import PASSWORD, AuthActions, Client, record_verifies
from tests.support.clock import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle_module, "utcnow", fake)
    return fake


@pytest.fixture
def throttle(app: Quart) -> LoginThrottle:
    return get_throttle(app)


async def fail(throttle: LoginThrottle, ip: str, name: str, times: int) -> None:
    for _ in range(times):
        await throttle.check_login(ip, name)
        await throttle.record_failure(ip, name)


async def test_pair_blocked_after_five_failures_with_doubling_backoff(
    throttle: LoginThrottle, clock: Clock
) -> None:
    await fail(throttle, "198.51.100.1", "alice", 4)
    await throttle.check_login("198.51.100.1", "alice")  # four failures: still allowed
    await throttle.record_failure("198.51.100.1", "alice")
    with pytest.raises(Throttled) as blocked:
        await throttle.check_login("198.51.100.1", "alice")
    assert blocked.value.retry_after_seconds == 60
    await throttle.check_login("198.51.100.2", "alice")  # another IP is a different pair
    clock.advance(seconds=61)
    await throttle.record_failure("198.51.100.1", "alice")  # the sixth failure
    with pytest.raises(Throttled) as blocked:
        await throttle.check_login("198.51.100.1", "alice")
    assert blocked.value.retry_after_seconds == 120  # doubled


async def test_usernames_are_compared_normalised(throttle: LoginThrottle) -> None:
    await fail(throttle, "198.51.100.1", "Alice", 5)
    with pytest.raises(Throttled):
        await throttle.check_login("198.51.100.1", " ＡＬＩＣＥ ")


async def test_pair_window_expires(throttle: LoginThrottle, clock: Clock) -> None:
    await fail(throttle, "198.51.100.1", "alice", 4)
    clock.advance(seconds=15 * 60 + 1)
    await fail(throttle, "198.51.100.1", "alice", 4)  # a new window: four more are allowed
    await throttle.check_login("198.51.100.1", "alice")


async def test_user_blocked_after_twenty_failures_from_anywhere(throttle: LoginThrottle) -> None:
    for host in range(20):
        await fail(throttle, f"203.0.113.{host}", "alice", 1)
    with pytest.raises(Throttled):
        await throttle.check_login("192.0.2.200", "alice")  # a fresh IP is refused too
    await throttle.check_login("192.0.2.200", "bob")  # other accounts are not


async def test_success_resets_the_pair(throttle: LoginThrottle) -> None:
    await fail(throttle, "198.51.100.1", "alice", 4)
    await throttle.record_success("198.51.100.1", "alice")
    await fail(throttle, "198.51.100.1", "alice", 4)
    await throttle.check_login("198.51.100.1", "alice")


async def test_zero_limits_switch_throttling_off(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "THROTTLE_PAIR_LIMIT": 0, "THROTTLE_USER_LIMIT": 0})
    async with app.test_app():
        throttle = get_throttle(app)
        await fail(throttle, "198.51.100.1", "alice", 30)
        await throttle.check_login("198.51.100.1", "alice")


# --- through the login form -----------------------------------------------------------------


async def test_throttled_login_is_429_generic_page_and_costs_no_argon2(
    app: Quart, client: Client, auth: AuthActions
) -> None:
    await auth.register("alice")
    await auth.logout()
    for _ in range(5):
        assert (await auth.login("alice", "wrong password here")).status_code == 401
    calls = record_verifies(app)
    response = await auth.login("alice", PASSWORD)  # even the right password waits
    html = await response.get_data(as_text=True)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) == 60
    assert "Invalid username or password." in html
    assert calls == []
    assert (await client.get("/dashboard")).status_code == 302


async def test_throttling_counts_per_client_ip(app: Quart, auth: AuthActions) -> None:
    await auth.register("alice")
    await auth.logout()
    attacker = AuthActions(app.test_client())
    for _ in range(5):
        await attacker.login("alice", "wrong password here")
    assert (await attacker.login("alice", PASSWORD)).status_code == 429
    # The same name from another address is a different pair, and still gets in.
    elsewhere = app.test_client()
    token = await AuthActions(elsewhere).csrf()
    form = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    response = await elsewhere.post("/login", form=form, scope_base={"client": ("192.0.2.7", 1)})
    assert response.status_code == 303


async def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    app_config: dict[str, Any],
) -> None:
    async def statuses(app: Quart) -> list[int]:
        client = app.test_client()
        results = []
        for attempt in range(7):
            token = await AuthActions(client).csrf()
            form = {"username": "alice", "password": "wrong password here", "csrf_token": token}
            response = await client.post(
                "/login",
                form=form,
                headers={"X-Forwarded-For": f"198.51.100.{attempt}"},
                scope_base={"client": ("10.0.0.5", 1)},
            )
            results.append(response.status_code)
        return results

    untrusted = create_app(app_config)
    async with untrusted.test_app():
        # A client choosing its own X-Forwarded-For gains nothing: the peer address counts.
        assert await statuses(untrusted) == [401] * 5 + [429] * 2
    trusted = create_app({**app_config, "TRUSTED_PROXIES": "10.0.0.0/8"})
    async with trusted.test_app():
        # Behind a trusted proxy, each forwarded address is its own client.
        assert await statuses(trusted) == [401] * 7


async def test_login_posts_per_ip_are_limited(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "THROTTLE_LOGIN_PER_MINUTE": 3})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        statuses = [(await auth.login(f"user{i}", PASSWORD)).status_code for i in range(4)]
        assert statuses == [401, 401, 401, 429]
        response = await auth.login("user9", PASSWORD)
        assert response.status_code == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert "Too many attempts" in await response.get_data(as_text=True)


async def test_register_posts_per_ip_are_limited(app: Quart, auth: AuthActions) -> None:
    statuses = [(await auth.register(f"user{i}", "short")).status_code for i in range(11)]
    assert statuses == [400] * 10 + [429]


async def test_counters_survive_a_restart(app_config: dict[str, Any]) -> None:
    for _ in range(2):  # two app instances on one database: as a restart, or a second worker
        app = create_app(app_config)
        async with app.test_app():
            throttle = get_throttle(app)
            for _ in range(3):
                await throttle.record_failure("198.51.100.1", "alice")
    with pytest.raises(Throttled):
        app = create_app(app_config)
        async with app.test_app():
            await get_throttle(app).check_login("198.51.100.1", "alice")


async def test_database_store_purges_only_finished_counters(
    app_config: dict[str, Any], clock: Clock
) -> None:
    # The database store's own job (Redis keys expire by themselves): so no REDIS_URL here.
    app = create_app({**app_config, "REDIS_URL": None})
    async with app.test_app():
        throttle = get_throttle(app)
        await fail(throttle, "198.51.100.1", "alice", 5)  # blocked for a minute
        await fail(throttle, "198.51.100.2", "bob", 1)
        assert await throttle.store.purge(clock.now, timedelta(hours=1)) == 0
        clock.advance(seconds=2 * 3600)
        assert await throttle.store.purge(clock.now, timedelta(hours=1)) == 4


async def test_refused_posts_do_not_write_to_the_database(app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "THROTTLE_LOGIN_PER_MINUTE": 2})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        statuses = [(await auth.login(f"user{i}", PASSWORD)).status_code for i in range(6)]
        assert statuses == [401, 401, 429, 429, 429, 429]
        counters = await get_throttle(app).store.read(["ip:auth.login:<local>"])
        # The third POST found the limit passed; the three after it were refused from memory.
        assert counters["ip:auth.login:<local>"].hits == 3


async def test_refusal_memory_is_per_window(app_config: dict[str, Any], clock: Clock) -> None:
    app = create_app({**app_config, "THROTTLE_LOGIN_PER_MINUTE": 1})
    async with app.test_app():
        throttle = get_throttle(app)
        await throttle.check_ip_rate("auth.login", "198.51.100.1", 1)
        with pytest.raises(Throttled):
            await throttle.check_ip_rate("auth.login", "198.51.100.1", 1)
        clock.advance(seconds=61)
        await throttle.check_ip_rate("auth.login", "198.51.100.1", 1)  # a new window


async def test_a_throttled_account_gets_one_event_per_interval_not_per_attempt(
    app: Quart, auth: AuthActions, monkeypatch: pytest.MonkeyPatch
) -> None:
    events_clock = Clock()  # the events' clock only: the throttle keeps refusing meanwhile
    monkeypatch.setattr(events_module, "utcnow", events_clock)
    await auth.register("alice")
    await auth.logout()
    statuses = [(await auth.login("alice", "not the password")).status_code for _ in range(15)]
    assert statuses == [401] * 5 + [429] * 10

    async def kinds() -> list[str]:
        async with get_database(app).sessionmaker() as db:
            return list((await db.execute(select(AuthEvent.kind))).scalars())

    assert (await kinds()).count("login_throttled") == 1  # ten refusals, one line
    assert (await kinds()).count("login_failed") == 5
    events_clock.advance(minutes=16)
    assert (await auth.login("alice", "not the password")).status_code == 429
    assert (await auth.login("alice", PASSWORD)).status_code == 429
    assert (await kinds()).count("login_throttled") == 2  # the next interval's line
