"""Throttle counters in Redis: the same limits as the database store, shared by every worker.

Needs a Redis server: set TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15; that database is
emptied). Without it these tests skip, except under CI=true, where they must run.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

import quart_app.throttle.policy as throttle_module
from quart_app import create_app
from quart_app.config import Settings
from quart_app.core.clock import utcnow
from quart_app.state import get_throttle
from quart_app.throttle.policy import LoginThrottle, Throttled
from quart_app.throttle.redis_store import RedisThrottleStore
from tests.support.auth import PASSWORD, AuthActions, users_and_sessions
from tests.support.clock import Clock
from tests.support.servers import free_port
from tests.support.services import IN_CI, TEST_REDIS_URL

if not TEST_REDIS_URL and not IN_CI:
    pytest.skip("set TEST_REDIS_URL to run the Redis throttle tests", allow_module_level=True)


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    if not TEST_REDIS_URL:
        pytest.fail("CI=true, but TEST_REDIS_URL is not set: these tests must run in CI")
    client = Redis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    await client.aclose()
    yield TEST_REDIS_URL


@pytest.fixture
async def stores(redis_url: str) -> AsyncIterator[list[RedisThrottleStore]]:
    """Two stores on one Redis: two workers (or two hosts)."""
    pair = [RedisThrottleStore.from_url(redis_url, "quart_app:") for _ in range(2)]
    yield pair
    for store in pair:
        await store.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(throttle_module, "utcnow", fake)
    return fake


def policies(stores: list[RedisThrottleStore]) -> list[LoginThrottle]:
    settings = Settings.load(environ={})
    return [LoginThrottle(store, settings) for store in stores]


async def test_failures_on_two_workers_share_one_limit_with_backoff(
    stores: list[RedisThrottleStore], clock: Clock
) -> None:
    first, second = policies(stores)
    for index in range(5):  # alternate workers: per-process counters would allow ten
        worker = (first, second)[index % 2]
        await worker.check_login("198.51.100.1", "alice")
        await worker.record_failure("198.51.100.1", "alice")
    for worker in (first, second):
        with pytest.raises(Throttled) as blocked:
            await worker.check_login("198.51.100.1", "alice")
        assert blocked.value.retry_after_seconds == 60
    clock.advance(seconds=61)
    await second.record_failure("198.51.100.1", "ＡＬＩＣＥ")  # the sixth, normalised alike
    with pytest.raises(Throttled) as blocked:
        await first.check_login("198.51.100.1", "alice")
    assert blocked.value.retry_after_seconds == 120


async def test_user_limit_window_and_success_reset(
    stores: list[RedisThrottleStore], clock: Clock
) -> None:
    first, second = policies(stores)
    for host in range(20):
        await (first, second)[host % 2].record_failure(f"203.0.113.{host}", "bob")
    with pytest.raises(Throttled):
        await first.check_login("192.0.2.9", "bob")
    for _ in range(4):
        await first.record_failure("198.51.100.1", "carol")
    await second.record_success("198.51.100.1", "carol")
    for _ in range(4):
        await first.record_failure("198.51.100.1", "carol")
    await first.check_login("198.51.100.1", "carol")  # reset: four more were allowed
    clock.advance(seconds=15 * 60 + 1)
    for _ in range(4):
        await second.record_failure("198.51.100.1", "carol")
    await second.check_login("198.51.100.1", "carol")  # a new window


async def test_increments_are_atomic_across_workers(stores: list[RedisThrottleStore]) -> None:
    now = utcnow()
    counters = await asyncio.gather(
        *(stores[i % 2].increment("ip:test:1", timedelta(minutes=1), now) for i in range(50))
    )
    assert sorted(counter.hits for counter in counters) == list(range(1, 51))


async def test_keys_expire_by_themselves(redis_url: str, stores: list[RedisThrottleStore]) -> None:
    first, _ = policies(stores)
    await first.record_failure("198.51.100.1", "dave")
    client = Redis.from_url(redis_url)
    try:
        keys = await client.keys("quart_app:throttle:*")
        assert len(keys) == 2
        ttls = [await client.ttl(key) for key in keys]
        assert all(0 < ttl <= 3601 for ttl in ttls)
    finally:
        await client.aclose()


async def test_deployments_with_different_key_prefixes_count_apart(redis_url: str) -> None:
    staging, production, production_too = (
        RedisThrottleStore.from_url(redis_url, prefix)
        for prefix in ("staging:", "production:", "production:")
    )
    try:
        window, now = timedelta(minutes=1), utcnow()
        for _ in range(3):
            await staging.increment("ip:auth.login:198.51.100.1", window, now)
        counter = await production.increment("ip:auth.login:198.51.100.1", window, now)
        assert counter.hits == 1  # staging's three hits are not production's
        counter = await production_too.increment("ip:auth.login:198.51.100.1", window, now)
        assert counter.hits == 2  # a second host of one deployment shares its counters
        client = Redis.from_url(redis_url)
        try:
            assert sorted(await client.keys("*")) == [
                b"production:throttle:ip:auth.login:198.51.100.1",
                b"staging:throttle:ip:auth.login:198.51.100.1",
            ]
        finally:
            await client.aclose()
    finally:
        for store in (staging, production, production_too):
            await store.close()


async def test_app_with_redis_url_throttles_logins_through_redis(
    app_config: dict[str, Any], redis_url: str
) -> None:
    app = create_app({**app_config, "REDIS_URL": redis_url})
    async with app.test_app():
        assert isinstance(get_throttle(app).store, RedisThrottleStore)
        auth = AuthActions(app.test_client())
        assert (await auth.client.get("/healthz")).status_code == 200
        await auth.register("erin")
        await auth.logout()
        statuses = [(await auth.login("erin", "wrong password here")).status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        assert (await auth.login("erin", PASSWORD)).status_code == 429
        assert (await users_and_sessions(app))[0] == 1


async def test_redis_going_away_gives_503_not_500(app_config: dict[str, Any]) -> None:
    # Nothing listens on port 1: every Redis call fails fast, as when the server is down.
    app = create_app({**app_config, "REDIS_URL": "redis://127.0.0.1:1/0"})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        token = await auth.csrf("/login")
        form = {"username": "frank", "password": PASSWORD, "csrf_token": token}
        response = await auth.client.post("/login", form=form)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        # A load balancer is told this host cannot serve logins.
        response = await auth.client.get("/healthz")
        assert response.status_code == 503
        assert await response.get_json() == {"status": "unavailable"}


class PrivateRedis:
    """A Redis server of one test's own, on a free port, so stopping it disturbs nobody."""

    def __init__(self, executable: str, folder: Path) -> None:
        self.command = [executable, "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)]
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self.command, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):  # bounded: about 10 s
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail("redis-server is not installed (the Redis tests need it)")
    server = PrivateRedis(executable, tmp_path)
    server.start()
    yield server
    server.stop()


async def test_redis_stopping_and_returning_mid_run(
    app_config: dict[str, Any], private_redis: PrivateRedis
) -> None:
    app = create_app({**app_config, "REDIS_URL": private_redis.url})
    async with app.test_app():
        auth = AuthActions(app.test_client())
        assert (await auth.register("grace")).status_code == 303
        await auth.logout()
        assert (await auth.login("grace", "wrong password here")).status_code == 401

        private_redis.stop()  # the service goes away mid-run
        token = await auth.csrf("/login")
        form = {"username": "grace", "password": PASSWORD, "csrf_token": token}
        response = await auth.client.post("/login", form=form)
        assert response.status_code == 503  # a clean refusal, not a 500 or a hang
        assert (await auth.client.get("/")).status_code == 200  # the rest of the site is up
        assert (await auth.client.get("/healthz")).status_code == 503

        private_redis.start()  # ...and comes back: the app recovers by itself
        assert (await auth.client.get("/healthz")).status_code == 200
        assert (await auth.login("grace")).status_code == 303
