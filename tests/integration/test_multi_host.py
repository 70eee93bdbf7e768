"""Two app servers (two workers each) behind different addresses, sharing PostgreSQL and Redis.

Needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL; .ci/run's PostgreSQL pass runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
from sqlalchemy import func, select

from quart_app.accounts.models import User
from quart_app.core.database import make_engine
from tests.support.http import (
    AUTH_COOKIE,
    fetch_csrf_token,
    login,
    logout,
    register,
    unique_password,
    unique_username,
)
from tests.support.servers import TEST_SECRET_KEY, LiveServer, running_server
from tests.support.services import IN_CI, TEST_DATABASE_URL, TEST_REDIS_URL, private_deployment

# On SQLite (.ci/run's first pass) there is no shared database to put two hosts on.
pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL.startswith("postgresql"),
    reason="needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL: .ci/run's second pass",
)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Hosts A and B: one deployment, so one new PostgreSQL database and one Redis key prefix."""
    if not TEST_REDIS_URL:
        reason = "two hosts on PostgreSQL also need TEST_REDIS_URL"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)
    with private_deployment() as shared, ExitStack() as stack:
        servers = [
            stack.enter_context(
                running_server(
                    tmp_path_factory.mktemp(f"host-{name}"),
                    secret_key=TEST_SECRET_KEY,
                    extra_env=shared,
                )
            )
            for name in ("a", "b")
        ]
        yield servers[0], servers[1]


async def client(server: LiveServer, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, cookies=cookies, timeout=30)


async def test_signed_in_on_one_host_signed_in_on_the_other(
    hosts: tuple[LiveServer, LiveServer],
) -> None:
    username, password = unique_username("roamer"), unique_password()
    async with await client(hosts[0]) as on_a:
        assert (await register(on_a, username, password)).status_code == 303
        # The same browser's cookies reach host B, as a load balancer would send them.
        async with await client(hosts[1], on_a.cookies) as on_b:
            response = await on_b.get("/dashboard")
    assert response.status_code == 200 and f"<dd>{username}</dd>" in response.text


async def test_logout_on_one_host_is_refused_on_the_other(
    hosts: tuple[LiveServer, LiveServer],
) -> None:
    username, password = unique_username("leaver"), unique_password()
    async with await client(hosts[0]) as on_a:
        assert (await register(on_a, username, password)).status_code == 303
        copied = on_a.cookies[AUTH_COOKIE]
        async with await client(hosts[1], on_a.cookies) as on_b:
            assert (await logout(on_b)).status_code == 303
    async with await client(hosts[0]) as replay:
        replay.cookies.set(AUTH_COOKIE, copied)
        response = await replay.get("/dashboard")
    assert response.status_code == 302 and response.headers["location"].startswith("/login")


async def test_failed_logins_are_counted_across_hosts(
    hosts: tuple[LiveServer, LiveServer],
) -> None:
    username, password = unique_username("target"), unique_password()
    async with await client(hosts[0]) as first:
        assert (await register(first, username, password)).status_code == 303
    statuses = []
    for attempt in range(7):
        async with await client(hosts[attempt % 2]) as attacker:
            statuses.append((await login(attacker, username, "wrong " + password)).status_code)
    # Per-host counters would allow five failures on each host; shared ones allow five in all.
    assert statuses == [401] * 5 + [429] * 2
    async with await client(hosts[1]) as owner:
        assert (await login(owner, username, password)).status_code == 429


async def test_registration_race_across_hosts_yields_one_user(
    hosts: tuple[LiveServer, LiveServer],
) -> None:
    username = unique_username("race")
    browsers = [await client(hosts[i % 2]) for i in range(8)]
    try:
        tokens = await asyncio.gather(*(fetch_csrf_token(b, "/register") for b in browsers))
        responses = await asyncio.gather(
            *(
                b.post(
                    "/register",
                    data={"username": username, "password": unique_password(), "csrf_token": t},
                )
                for b, t in zip(browsers, tokens, strict=True)
            )
        )
    finally:
        for browser in browsers:
            await browser.aclose()
    assert sorted(r.status_code for r in responses) == [303] + [409] * 7
    engine = make_engine(hosts[0].database_url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                select(func.count()).select_from(User).where(User.username_key == username.lower())
            )
    finally:
        await engine.dispose()
    assert count == 1
