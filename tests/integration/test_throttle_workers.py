"""Throttling holds across both workers of a real server: counters are not per process."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.helpers import fetch_csrf_token, register, unique_password, unique_username
from tests.live_server import TEST_SECRET_KEY, LiveServer, running_server

LOGINS_PER_MINUTE = 12


@pytest.fixture(scope="module")
def throttled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(
        tmp_path_factory.mktemp("throttle-instance"),
        secret_key=TEST_SECRET_KEY,
        extra_env={"THROTTLE_LOGIN_PER_MINUTE": str(LOGINS_PER_MINUTE)},
    ) as server:
        yield server


async def login_on_new_connection(server: LiveServer, username: str, password: str) -> int:
    """Each attempt on its own connection, so the kernel spreads them over both workers."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        token = await fetch_csrf_token(client, "/login")
        response = await client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        return response.status_code


def workers_that_answered_login(server: LiveServer) -> set[str]:
    return set(re.findall(r'<pid <(\d+)>> "POST /login 1\.1"', server.log_text()))


async def test_failed_logins_are_counted_across_workers(throttled_server: LiveServer) -> None:
    username, password = unique_username("victim"), unique_password()
    async with httpx.AsyncClient(base_url=throttled_server.base_url, timeout=30) as client:
        assert (await register(client, username, password)).status_code == 303
    statuses = [
        await login_on_new_connection(throttled_server, username, "wrong password here")
        for _ in range(7)
    ]
    # Per-process counters would allow five failures per worker; shared ones allow five.
    assert statuses == [401] * 5 + [429] * 2
    assert await login_on_new_connection(throttled_server, username, password) == 429
    assert len(workers_that_answered_login(throttled_server)) == 2


async def test_login_posts_per_ip_are_counted_across_workers(throttled_server: LiveServer) -> None:
    # The previous test used 8 of this minute's POSTs from 127.0.0.1 (same module, same minute
    # window is likely but not certain), so count from whatever is left.
    statuses = [
        await login_on_new_connection(throttled_server, unique_username("n"), unique_password())
        for _ in range(LOGINS_PER_MINUTE + 1)
    ]
    assert 429 in statuses
    first_refusal = statuses.index(429)
    assert first_refusal <= LOGINS_PER_MINUTE
    assert set(statuses[:first_refusal]) <= {401}
    assert set(statuses[first_refusal:]) == {429}
